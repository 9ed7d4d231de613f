/**
 * The broker's operational log: one JSON object per line on stderr ({"level","time","message"} and any
 * fields), for a log pipeline to parse; audit lines stay on stdout (audit.ts). Written here rather than
 * with a logging library (pino would do it): the broker writes a handful of lines an hour, at two
 * levels, to one stream, and what goes in a line is decided by its callers (never a secret).
 */
export type Level = 'info' | 'warning' | 'error';

export function logLine(level: Level, message: string, now: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ level, time: new Date(now).toISOString(), message, ...fields });
}

export interface BrokerLog {
  info: (message: string, fields?: Record<string, unknown>) => void;
  warning: (message: string, fields?: Record<string, unknown>) => void;
}

export function jsonLog(write: (line: string) => void, now: () => number): BrokerLog {
  return {
    info: (message, fields) => write(logLine('info', message, now(), fields)),
    warning: (message, fields) => write(logLine('warning', message, now(), fields)),
  };
}
