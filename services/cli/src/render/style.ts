import type { SourceStateName } from '@s1c/contracts';

/** How text is decorated: ANSI colours on a terminal, nothing otherwise. */
export interface Style {
  state(state: string): string;
  health(level: string): string;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
}

const id = (text: string): string => text;

export const plainStyle: Style = { state: id, health: id, bold: id, dim: id, red: id, yellow: id, green: id };

const sgr = (code: string) => (text: string) => `\u001b[${code}m${text}\u001b[0m`;
const red = sgr('31');
const green = sgr('32');
const yellow = sgr('33');
const cyan = sgr('36');

const STATE_COLOURS: Record<SourceStateName, (text: string) => string> = {
  Pending: cyan,
  Started: cyan,
  Initialized: cyan,
  Authenticated: cyan,
  Collecting: green,
  Error: red,
  Stopping: yellow,
  Deleted: sgr('2'),
};

export const ansiStyle: Style = {
  state: (state) => (STATE_COLOURS[state as SourceStateName] ?? id)(state),
  health: (level) => (level === 'healthy' ? green : level === 'warning' ? yellow : level === 'error' ? red : id)(level),
  bold: sgr('1'),
  dim: sgr('2'),
  red,
  yellow,
  green,
};

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org) or `--no-color` given. */
export function styleFor(isTTY: boolean | undefined, env: NodeJS.ProcessEnv, noColorFlag = false): Style {
  return isTTY && !noColorFlag && (env.NO_COLOR === undefined || env.NO_COLOR === '') ? ansiStyle : plainStyle;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** The text as it shows on screen, without escape sequences. */
export const visible = (text: string): string => text.replace(ANSI, '');
