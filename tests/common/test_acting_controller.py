"""Which controller a call acts in: a controller's client always its own, an operator only the one it
names; and the same person at two controllers is tagged as two unrelated subjects."""

import asyncio
import os

import asyncpg
import pytest

from services.common import auth
from services.common.db import apply_migrations, migrations_in
from services.common.erasure import SubjectTagger, pin_default_controller
from services.common.validation import InvalidArgument, Validator
from tests.support import unique

CAMPUS = auth.ClientGrant("gate", frozenset(), frozenset(), controller_id="campus")
OPERATOR = auth.ClientGrant("dsr", frozenset(), frozenset())


def acting(grant: auth.ClientGrant, named: str, scope=auth.acting_controller):
    auth.bind_client(grant)
    try:
        v = Validator()
        controller = scope(named, v)
        v.done()
        return controller
    finally:
        auth.bind_client(None)


@pytest.mark.parametrize("named", ["", "campus"])
def test_a_controllers_client_acts_in_its_own(named):
    assert acting(CAMPUS, named) == acting(CAMPUS, named, auth.controller_scope) == "campus"


@pytest.mark.parametrize("scope", [auth.acting_controller, auth.controller_scope])
def test_another_controller_is_not_found_as_an_unknown_one(scope):
    with pytest.raises(auth.ControllerNotFound) as other:
        acting(CAMPUS, "bank", scope)

    assert str(other.value) == "controller 'bank' does not exist" and other.value.reason == "CONTROLLER_NOT_FOUND"


def test_an_operator_names_the_controller_of_a_subject():
    with pytest.raises(InvalidArgument) as unnamed:
        acting(OPERATOR, "")

    assert [v.field for v in unnamed.value.violations] == ["controller_id"]
    assert acting(OPERATOR, "bank") == "bank"


def test_an_operator_lists_every_controller_or_the_one_it_names():
    assert acting(OPERATOR, "", auth.controller_scope) is None
    assert acting(OPERATOR, "bank", auth.controller_scope) == "bank"


def test_one_person_at_two_controllers_is_two_unrelated_tags_and_the_default_keeps_the_old_one():
    key = os.urandom(32)
    tagger = SubjectTagger(key, default_controller="campus")

    assert tagger.tag("mei", "campus") == tagger.tag("mei") == SubjectTagger(key).tag("mei")
    assert len({tagger.tag("mei", "campus"), tagger.tag("mei", "bank"), tagger.tag("mei", "park")}) == 3
    assert tagger.tombstone("mei", "bank") == "erased:" + tagger.tag("mei", "bank")


async def test_a_database_keeps_the_default_controller_it_first_started_with(postgres):
    name = unique("pinned").replace("-", "_")
    await asyncio.to_thread(postgres.create_database, name)
    pool = await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=1)
    try:
        await apply_migrations(pool, migrations_in("services.common"))
        key = os.urandom(32)
        await pin_default_controller(pool, SubjectTagger(key, "campus"))
        await pin_default_controller(pool, SubjectTagger(key, "campus"))  # the same again: starts

        with pytest.raises(ValueError) as changed:
            await pin_default_controller(pool, SubjectTagger(key, "bank"))

        assert "belong to 'campus'" in str(changed.value) and "set it back to 'campus'" in str(changed.value)
        assert await pool.fetchval("SELECT controller_id FROM default_controller") == "campus"
    finally:
        await pool.close()
