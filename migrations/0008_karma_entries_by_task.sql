-- A2A tasks/get reports the karma a task earned its agent: look entries up by task.
CREATE INDEX karma_entries_task_idx ON karma_entries (task_id) WHERE task_id IS NOT NULL;
