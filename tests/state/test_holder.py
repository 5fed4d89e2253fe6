"""The run-lock record: where a CI run holding the lock can be seen, and records that round-trip or are refused."""

from __future__ import annotations

import pytest

from reconciler.state.holder import Holder, ci_link

GITHUB = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "42"}


@pytest.mark.parametrize(("env", "link"), [
    (GITHUB, "https://github.com/acme/models/actions/runs/42"),
    ({**GITHUB, "GITHUB_RUN_ID": ""}, ""),  # not all three: no GitHub link
    ({"CI_JOB_URL": "https://gitlab.com/acme/models/-/jobs/7"}, "https://gitlab.com/acme/models/-/jobs/7"),
    ({"BUILD_URL": "https://jenkins.acme/job/models/9/"}, "https://jenkins.acme/job/models/9/"),
    ({**GITHUB, "CI_JOB_URL": "https://gitlab.com/x"}, "https://github.com/acme/models/actions/runs/42"),
    ({}, ""),
])
def test_the_ci_run_holding_a_lock_is_linked(env, link):
    assert ci_link(env) == link


def test_a_record_round_trips_and_a_broken_one_is_no_holder():
    me = Holder.me("reconciler apply", lease_expires="2026-12-02T00:00:00Z")
    assert Holder.from_text(me.text().decode()) == me
    for broken in ('{"pid": "1", "host": "h", "command": "c", "started": "s"}', '{"pid": 1}', "[]", "not json",
                   '{"pid": true, "host": "h", "command": "c", "started": "s"}'):
        assert Holder.from_text(broken) is None
