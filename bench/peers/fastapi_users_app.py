"""FastAPI Users 15 on MongoDB (Beanie), as its documentation sets it up,
with argon2id at our parameters (m=19456 KiB, t=2, p=1): the peer that
`make bench-peers` measures us against. Register, JWT login, `GET /users/me`.

Run: MONGODB_URI=… MONGODB_DB=… uvicorn fastapi_users_app:app --port N
"""

import os
import secrets
from contextlib import asynccontextmanager

from beanie import Document, PydanticObjectId, init_beanie
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.password import PasswordHelper
from fastapi_users_db_beanie import BeanieBaseUser, BeanieUserDatabase, ObjectIDIDMixin
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pymongo import AsyncMongoClient

# A fresh secret per run: nothing outlives the benchmark.
SECRET = secrets.token_urlsafe(32)
client = AsyncMongoClient(os.environ["MONGODB_URI"])


class User(BeanieBaseUser, Document):
    pass


class UserRead(schemas.BaseUser[PydanticObjectId]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


async def get_user_db():
    yield BeanieUserDatabase(User)


class UserManager(ObjectIDIDMixin, BaseUserManager[User, PydanticObjectId]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


password_helper = PasswordHelper(
    PasswordHash((Argon2Hasher(memory_cost=19456, time_cost=2, parallelism=1),))
)


async def get_user_manager(user_db=Depends(get_user_db)):
    yield UserManager(user_db, password_helper)


backend = AuthenticationBackend(
    name="jwt",
    transport=BearerTransport(tokenUrl="auth/jwt/login"),
    get_strategy=lambda: JWTStrategy(secret=SECRET, lifetime_seconds=900),
)
fastapi_users = FastAPIUsers[User, PydanticObjectId](get_user_manager, [backend])


@asynccontextmanager
async def lifespan(_app):
    await init_beanie(database=client[os.environ["MONGODB_DB"]], document_models=[User])
    yield


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth/jwt")
app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth")
app.include_router(fastapi_users.get_users_router(UserRead, schemas.BaseUserUpdate), prefix="/users")
