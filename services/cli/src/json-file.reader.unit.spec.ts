import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from './cli.errors';
import { lineColumnOf, readJsonFile } from './json-file.reader';

const TOKEN = 'tok-very-secret-0123456789';

function failure(text: string | Error, path = 'source.json'): CliError {
  try {
    readJsonFile(path, () => {
      if (text instanceof Error) throw text;
      return text;
    });
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error('expected a failure');
}

describe('reading a source document file', () => {
  it('parses a JSON object (a BOM is fine)', () => {
    expect(readJsonFile('s.json', () => '\ufeff{"api.version":"v1","source":{}}')).toEqual({ 'api.version': 'v1', source: {} });
  });

  it('names the file, the line and the column of a syntax error, and never quotes the text', () => {
    const text = `{\n  "source": {\n    "config": {\n      "api_secret": "${TOKEN}"\n      "name": "x"\n    }\n  }\n}\n`;
    const error = failure(text);
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toBe("source.json:5:7: invalid JSON: ',' expected at line 5, column 7");
    expect(error.message).not.toContain(TOKEN);
  });

  it('reports a trailing comma, a comment, an unterminated string and an empty file', () => {
    expect(failure('{"a": 1,}').message).toMatch(/^source\.json:1:9: invalid JSON: a property name/);
    expect(failure('{"a": 1} // hi').message).toContain('comments are not JSON');
    expect(failure(`{"api_secret": "${TOKEN}`).message).toContain('an unterminated string');
    expect(failure(`{"api_secret": "${TOKEN}`).message).not.toContain(TOKEN);
    expect(failure('  \n').message).toBe('source.json: empty file, expected a JSON object');
  });

  it('wants an object', () => {
    expect(failure('[1,2]').message).toBe('source.json: expected a JSON object (a source document), found an array');
    expect(failure('"x"').message).toContain('found a string');
  });

  it('says why a file cannot be read (exit 2)', () => {
    const missing = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    expect(failure(missing, 'nope.json').message).toBe('cannot read nope.json: no such file');
    expect(failure(missing, 'nope.json').exitCode).toBe(EXIT.usage);
    expect(failure(Object.assign(new Error('x'), { code: 'EACCES' }), 'secret.json').message).toBe('cannot read secret.json: permission denied');
    expect(failure(Object.assign(new Error('x'), { code: 'EISDIR' }), 'dir').message).toBe('cannot read dir: it is a directory');
  });

  it('counts lines and columns from 1', () => {
    expect(lineColumnOf('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumnOf('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
