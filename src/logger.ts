import pino, { type Logger } from 'pino';

/** Logs go to stderr as JSON lines, so stdout stays for command output. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'meshdns' } }, pino.destination(2));
}
