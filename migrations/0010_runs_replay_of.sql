-- A replay names the recorded run it replays; its work moves no real karma.
ALTER TABLE runs ADD COLUMN replay_of text;
