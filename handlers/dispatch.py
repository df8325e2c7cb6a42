"""Which handler runs which command."""

from handlers import commands as c
from handlers.economy import cast_peer_vote, decay_karma, schedule_task
from handlers.ledger_handlers import (
    assign_task,
    burn_karma,
    cancel_task,
    complete_task,
    ensure_agent,
    fail_task,
    finish_run,
    issue_task,
    mint_karma,
    record_artifact,
    record_model_call,
    register_agent,
    reject_task,
    request_input,
    retire_agent,
    score_review,
    start_run,
    start_task,
)
from handlers.unit_of_work import Handler

HANDLERS: dict[type[c.Command], Handler] = {
    c.RegisterAgent: register_agent,
    c.EnsureAgent: ensure_agent,
    c.RetireAgent: retire_agent,
    c.StartRun: start_run,
    c.FinishRun: finish_run,
    c.IssueTask: issue_task,
    c.AssignTask: assign_task,
    c.StartTask: start_task,
    c.RecordArtifact: record_artifact,
    c.RecordModelCall: record_model_call,
    c.RequestInput: request_input,
    c.CompleteTask: complete_task,
    c.FailTask: fail_task,
    c.CancelTask: cancel_task,
    c.RejectTask: reject_task,
    c.ScoreReview: score_review,
    c.ScheduleTask: schedule_task,
    c.CastPeerVote: cast_peer_vote,
    c.DecayKarma: decay_karma,
    c.MintKarma: mint_karma,
    c.BurnKarma: burn_karma,
}
