"""Words for the keys HR pages show: message kinds, delivery states, channels, audit events, review states.

Each value is an English message id (marked with ``N_`` for extraction); a template translates it with
``_()``, and an unknown key is shown as written, so a new kind is readable before it has words.
"""

from __future__ import annotations

from domain.phases import PHASES, phase_label
from domain.text import N_

MESSAGE_KINDS = {
    "task_assigned": N_("self-review assigned"),
    "reviews_assigned": N_("reviews to score assigned"),
    "survey_invitation": N_("survey invitation"),
    "reminder": N_("reminder"),
    "deadline_extended": N_("deadline extended"),
    "deadline_missed": N_("deadline missed"),
    "escalation": N_("escalation"),
    "reviewer_assigned": N_("review reassigned to them"),
    "reviewer_unassigned": N_("review taken from them"),
    "review_ended": N_("review ended: the employee leaves"),
    "calibration_opened": N_("calibration opened"),
    "calibration_finalized": N_("calibration finalized"),
    "payouts_awaiting_approval": N_("payouts awaiting approval"),
    "results_released": N_("results released"),
    "account_invitation": N_("sign-in invitation"),
    "password_reset": N_("password reset"),
    "task_reopened": N_("task reopened"),
}

DELIVERY_STATUSES = {
    "queued": N_("queued"),
    "claimed": N_("being sent"),
    "sending": N_("being sent"),
    "retry": N_("waiting to retry"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "uncertain": N_("unknown whether delivered"),
}

CHANNELS = {"email": N_("e-mail"), "wecom": N_("WeCom"), "dingtalk": N_("DingTalk"), "feishu": N_("Feishu")}

REVIEW_STATUSES = {"pending": N_("not started"), "open": N_("in progress"), "closed": N_("finished"),
                   "cancelled": N_("cancelled")}

LATE_STATES = {"missed": N_("missed"), "overdue": N_("overdue"), "grace": N_("in grace period")}

# Audit events; those of one review phase ("self_review.submitted") are composed from PHASE_EVENTS.
AUDIT_EVENTS = {
    "cycle.created": N_("cycle created"),
    "cycle.started": N_("cycle started"),
    "cycle.cancel_requested": N_("cancellation requested"),
    "cycle.cancelled": N_("cycle cancelled"),
    "review.opened": N_("review opened"),
    "review.closed": N_("review closed"),
    "review.reviewer_reassigned": N_("reviewer changed"),
    "review.joined": N_("joiner added to the cycle"),
    "review.ended": N_("review ended: the employee leaves"),
    "review.rescored": N_("review rescored after a reopened submission"),
    "survey.withdrawn": N_("survey invitations moved away (account reassigned)"),
    "survey.moved_in": N_("survey invitations moved in (account reassigned)"),
    "reminders.sent": N_("reminders sent by HR"),
    "survey_links.issued": N_("survey links issued"),
    "notification.resent": N_("message resent"),
    "calibration.opened": N_("calibration opened"),
    "rating.adjusted": N_("rating adjusted"),
    "calibration.finalized": N_("calibration finalized"),
    "incentives.computed": N_("incentives computed"),
    "payouts.approved": N_("payouts approved"),
    "results.released": N_("results released"),
    "rating.corrected_after_lock": N_("rating corrected after lock"),
}
# Sign-in events (services.audit.account_entries), shown on HR's People page rather than a cycle's audit log.
ACCOUNT_EVENTS = {
    "account.invited": N_("invited to sign in"),
    "account.disabled": N_("sign-in disabled"),
    "account.roles_changed": N_("roles changed with the org"),
    "account.reset_requested": N_("password reset requested"),
    "account.password_set": N_("password chosen"),
}
PHASE_EVENTS = {
    "submitted": N_("%(phase)s submitted"),
    "reminder": N_("%(phase)s: reminder sent"),
    "extended": N_("%(phase)s: deadline extended"),
    "closed": N_("%(phase)s: deadline passed, closed"),
}

WORDS = {"kind": MESSAGE_KINDS, "delivery": DELIVERY_STATUSES, "channel": CHANNELS, "review": REVIEW_STATUSES,
         "late": LATE_STATES}


def event_words(action: str, gettext, locale: str) -> str:  # noqa: ANN001 - a gettext function
    """An audit event in the reader's language: "results released", "自评已提交"; unknown ones as written."""
    if action in AUDIT_EVENTS:
        return gettext(AUDIT_EVENTS[action])
    phase, _, event = action.partition(".")
    if phase in PHASES and event in PHASE_EVENTS:
        return gettext(PHASE_EVENTS[event]) % {"phase": phase_label(phase, locale)}
    return action


def event_choices(gettext, locale: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every event an audit page can filter on, in words, sorted by their words."""
    keys = list(AUDIT_EVENTS) + [f"{p}.{e}" for p in PHASES for e in PHASE_EVENTS]
    return sorted(((k, event_words(k, gettext, locale)) for k in keys), key=lambda kv: kv[1])
