/**
 * The schedules part of the REST API: crons that start pipeline runs of a
 * project (the whole pipeline, or one block and what it needs).
 */
import type { AiNotebookAPI } from './api';
import { requestAPI } from './api';

export type ScheduleTarget = 'pipeline' | 'block';

export interface ISchedule {
  id: number;
  project_id: number;
  cron: string;
  target: ScheduleTarget;
  block_id: number | null;
  timezone: string;
  enabled: boolean;
  created_by: string | null;
  /** ISO UTC; null while disabled. */
  next_run_at: string | null;
  last_run_at: string | null;
  last_pipeline_run_id: number | null;
  /** Why the last firing started no run ('' if it did). */
  last_error: string;
  created_at: string;
  updated_at: string;
}

export interface IScheduleCreate {
  cron: string;
  target: ScheduleTarget;
  block_id?: number;
  timezone?: string;
  enabled?: boolean;
}

export type IScheduleUpdate = Partial<IScheduleCreate>;

function path(projectId: number, scheduleId?: number): Array<string | number> {
  const base: Array<string | number> = ['projects', projectId, 'schedules'];
  return scheduleId === undefined ? base : [...base, scheduleId];
}

export async function listSchedules(
  api: AiNotebookAPI,
  projectId: number
): Promise<ISchedule[]> {
  const page = await requestAPI<{ items: ISchedule[] }>(
    api.settings,
    path(projectId)
  );
  return page.items;
}

export function createSchedule(
  api: AiNotebookAPI,
  projectId: number,
  body: IScheduleCreate
): Promise<ISchedule> {
  return requestAPI<ISchedule>(api.settings, path(projectId), {
    method: 'POST',
    body
  });
}

export function updateSchedule(
  api: AiNotebookAPI,
  projectId: number,
  scheduleId: number,
  body: IScheduleUpdate
): Promise<ISchedule> {
  return requestAPI<ISchedule>(api.settings, path(projectId, scheduleId), {
    method: 'PATCH',
    body
  });
}

export function deleteSchedule(
  api: AiNotebookAPI,
  projectId: number,
  scheduleId: number
): Promise<void> {
  return requestAPI<void>(api.settings, path(projectId, scheduleId), {
    method: 'DELETE'
  });
}

/** "in 3 min", "5 s ago": a time relative to now, coarsely. */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const size = Math.abs(seconds);
  const units: Array<[number, string]> = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min'],
    [1, 's']
  ];
  const [unit, name] = units.find(([u]) => size >= u) ?? [1, 's'];
  const count = Math.floor(size / unit);
  return seconds >= 0 ? `in ${count} ${name}` : `${count} ${name} ago`;
}
