"""SQLModel tables: the application database (the source for lists, reports and payroll)."""

from sqlmodel import SQLModel

from models.tables import (  # noqa: F401
    AuditLog,
    CalibratedRating,
    CrmDealCredit,
    CrmDealEvent,
    CustomerContact,
    Employee,
    KeyAccount,
    KpiActual,
    LedgerEntry,
    ManagerScore,
    Notification,
    PayoutLine,
    RatingAdjustment,
    Review,
    ReviewCycle,
    SelfReviewAnswer,
    SurveyInvitation,
    SurveyResponse,
    Task,
    TaskDraft,
)

metadata = SQLModel.metadata
