/** Where progress goes (stderr), so stdout keeps only the result. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Progress of a long operation on stderr: each step as a line of its own, and on a terminal a
 * spinner under them saying what it waits for. Off a terminal only the step lines are written.
 */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private status = '';

  constructor(private readonly stream: ProgressStream) {}

  /** Shows (on a terminal) what is awaited now. */
  waiting(status: string): void {
    this.status = status;
    if (!this.stream.isTTY) return;
    this.timer ??= setInterval(() => this.draw(), 100);
    this.timer.unref();
    this.draw();
  }

  /** A lasting line (e.g. a state reached). */
  step(line: string): void {
    this.clear();
    this.stream.write(line.endsWith('\n') ? line : `${line}\n`);
    if (this.timer) this.draw();
  }

  stop(): void {
    this.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private draw(): void {
    if (!this.stream.isTTY) return;
    this.frame = (this.frame + 1) % FRAMES.length;
    this.stream.write(`\r\u001b[K${FRAMES[this.frame]} ${this.status}`);
  }

  private clear(): void {
    if (this.stream.isTTY && this.timer) this.stream.write('\r\u001b[K');
  }
}
