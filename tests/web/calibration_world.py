"""A cycle in calibration, written directly (its workflows are not the subject of the page tests).

Org of ``web_org``: M1 manages K01 and K03, M2 manages K02 and K04. Every review is closed with a score
breakdown, K01 has a self-review, a manager's score, two survey invitations (one answered), an adjustment, a
reassignment and audit rows, so the participant page has something in every section.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg

from services.cycles import create_cycle
from tests.helpers import cycle_config

T0 = datetime(2026, 10, 9, 2, 30, tzinfo=UTC)  # 10:30 in Beijing

LINES = [
    {"component": "kpis", "item": "sales_attainment", "label": "Sales target attainment / 销售目标达成率",
     "actual": "0.9", "item_score": "2.0000", "weight_pct": "27.0000", "contribution": "0.5400",
     "explanation": "sales"},
    {"component": "competencies", "item": "communication", "label": "Communication & expression / 沟通表达能力",
     "actual": None, "item_score": "3.0000", "weight_pct": "3.7500", "contribution": "0.1125",
     "explanation": "communication"},
    {"component": "csat", "item": "csat", "label": "Customer satisfaction (CSAT) / 客户满意度",
     "actual": "100", "item_score": "5.0000", "weight_pct": "15.0000", "contribution": "0.7500",
     "explanation": "csat"},
]
CSAT = {"responses": 1, "satisfied": 1, "csat_pct": "100.00", "ci_low": "20.65", "ci_high": "100.00", "nps": "100.00",
        "nps_responses": 1, "weighted": False, "below_minimum": True, "notes": []}
LEVELS = {"K01": (3, 2), "K02": (4, 3), "K03": (3, 2), "K04": (2, 1)}  # final level, potential


async def calibration_cycle(db_url: str, cycle_id: str) -> str:
    await create_cycle(db_url, cycle_config(cycle_id))
    breakdown = json.dumps({"lines": LINES, "csat": CSAT, "notes": [], "missing": []})
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE review_cycle SET status = 'calibration', started_at = %s WHERE id = %s", (T0, cycle_id))
        conn.execute("""UPDATE review SET status = 'closed', preliminary_score = 3.05, score_breakdown = %s,
                               closed_at = %s WHERE cycle_id = %s""", (breakdown, T0, cycle_id))
        for emp, (level, potential) in LEVELS.items():
            box = {3: "moderate", 4: "high", 2: "low"}[level] + "/" + ("low", "moderate", "high")[potential - 1]
            conn.execute(
                """INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id, preliminary_score,
                          normalized_score, suggested_level, final_level, potential, nine_box, note, finalized)
                   SELECT id, cycle_id, employee_id, reviewer_id, 3.05, 3.1, %s, %s, %s, %s, 'normalization is off', false
                   FROM review WHERE cycle_id = %s AND employee_id = %s""",
                (level, level, potential, box, cycle_id, emp))
        review = f"{cycle_id}:K01"
        conn.execute("""INSERT INTO self_review_answer (review_id, item_id, rating, comment, submitted_at) VALUES
                        (%s, 'communication', 2, 'Closed the Sinopec renewal', %s),
                        (%s, 'kpi:sales_attainment', NULL, 'Pipeline slipped into Q4', %s)""",
                     (review, T0, review, T0))
        conn.execute("""INSERT INTO manager_score (review_id, item_id, rating, comment, scored_by, submitted_at) VALUES
                        (%s, 'communication', 3, 'Clear weekly reports', 'M1', %s),
                        (%s, 'potential', 2, NULL, 'M1', %s)""", (review, T0, review, T0))
        for n, contact in enumerate(("CK010", "CK011")):
            task = f"{review}:customer_survey:{contact}"
            conn.execute("""INSERT INTO survey_invitation (id, cycle_id, review_id, contact_id, account_id, status,
                                   sent_at, expires_at, answered_at)
                            VALUES (%s, %s, %s, %s, 'AK01', %s, %s, %s, %s)""",
                         (task, cycle_id, review, contact, "answered" if n == 0 else "expired", T0,
                          T0 + timedelta(days=7), T0 + timedelta(hours=3) if n == 0 else None))
            if n == 0:
                conn.execute("""INSERT INTO survey_response (invitation_id, satisfaction, nps, comment, answered_at)
                                VALUES (%s, 5, 10, 'Responsive and well prepared', %s)""",
                             (task, T0 + timedelta(hours=3)))
        conn.execute("""INSERT INTO rating_adjustment (id, review_id, from_level, to_level, reason, actor, adjusted_at)
                        VALUES (%s, %s, 4, 3, 'Aligned with the regional peers', 'HR1', %s)""",
                     (f"adj-{cycle_id}-1", review, T0 + timedelta(days=1)))
        audit = [
            (f"review.opened:{review}", T0 - timedelta(days=20), "system", "review.opened", "review", review, None),
            (f"review.reassigned:{review}:1", T0 - timedelta(days=10), "HR1", "review.reviewer_reassigned", "review",
             review, {"reviewer_id": "M1", "reason": "Matrix team"}),
            (f"task.submitted:{review}:self_review", T0 - timedelta(days=5), "K01", "self_review.submitted", "task",
             f"{review}:self_review", {"status": "done"}),
            (f"rating.adjusted:adj-{cycle_id}-1", T0 + timedelta(days=1), "HR1", "rating.adjusted",
             "calibrated_rating", review, {"final_level": 3, "reason": "Aligned with the regional peers"}),
        ]
        for key, at, actor, action, etype, eid, after in audit:
            before = {"reviewer_id": "M2"} if action == "review.reviewer_reassigned" else None
            conn.execute("""INSERT INTO audit_log (event_key, occurred_at, actor, action, entity_type, entity_id,
                                   before, after) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                         (key, at, actor, action, etype, eid, json.dumps(before) if before else None,
                          json.dumps(after) if after else None))
    return cycle_id
