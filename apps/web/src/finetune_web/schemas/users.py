"""Auth, users and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from finetune_core.domain import AuthSession
from finetune_core.services.users import EMAIL, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=EMAIL.pattern)]
Trigramme = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9]{3}$")]
# patterns read as Python's `re` reads them: the core checks with it, and so do OpenAPI test generators
PYTHON_PATTERNS = ConfigDict(regex_engine="python-re")


class RegisterBody(BaseModel):
    model_config = PYTHON_PATTERNS

    email: Email
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    name: str | None = Field(None, max_length=200)
    trigramme: Trigramme | None = Field(None, description="foyergpt's three-letter handle, unique")


class LoginBody(BaseModel):
    """JSON `{email, password}` (or `username` for the email), or an OAuth2 password form."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [  # one of the two, not null
        {"required": [name], "properties": {name: {"type": "string"}}} for name in ("email", "username")]})

    email: str | None = Field(None, min_length=1, max_length=320)
    username: str | None = Field(None, min_length=1, max_length=320, description="the email, or a trigramme")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)

    @model_validator(mode="after")
    def _login_given(self) -> LoginBody:
        if not (self.email or self.username):
            raise ValueError("email (or username) is required")
        return self

    @property
    def login(self) -> str:
        return self.email or self.username or ""


class RefreshBody(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    trigramme: str | None
    is_active: bool
    is_admin: bool
    has_completed_onboarding: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class ProfileOut(UserOut):
    """The caller's own profile, with dualqueryintelligence's usage counters (counted from the data on each read)."""

    projects_count: int = Field(description="the caller's projects (GET /api/projects total)")
    datasets_count: int = Field(description="the caller's datasets (GET /api/datasets total)")
    fine_tune_jobs: int = Field(description="the caller's fine-tunings, whatever their status (GET /api/fine-tunings "
                                            "total)")
    queries_used: int = Field(description="requests answered through the caller's issued API keys (/v1)")
    current_plan: str = Field(description="the plan whose limits apply to the caller now (`free` until one is bought; "
                              "GET /api/users/me/subscription has the details)")


class ProfileUpdate(BaseModel):
    """A partial update (PUT acts like PATCH): absent fields stay as they are."""

    model_config = PYTHON_PATTERNS

    name: str | None = Field(None, max_length=200)
    trigramme: Trigramme | None = None
    has_completed_onboarding: bool | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str = Field(description="single use: POST it to /api/auth/refresh-token for the next pair")
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token lives")
    refresh_expires_in: int = Field(description="seconds the session lives without a refresh")
    session_id: str
    user: UserOut


class SessionMetadata(BaseModel):
    user_agent: str | None
    ip_address: str | None


class SessionOut(BaseModel):
    """foyergpt's shape of the session behind the token."""

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    metadata: SessionMetadata

    @classmethod
    def of(cls, session: AuthSession) -> SessionOut:
        return cls(id=session.id, user_id=session.user_id, created_at=session.created_at,
                   expires_at=session.expires_at, last_used_at=session.last_used_at,
                   metadata=SessionMetadata(user_agent=session.user_agent, ip_address=session.ip_address))
