"""The real Codex, driven by `middle implement` in file mode with the scripted model: a
repo with gates requires evidence at done (issue 19), and the model writes `done.json`
with none. middle refuses the done and nudges Codex, and the nudge, which is the user
text of the model's next request, names the criterion that lacks evidence; with the
evidence given the done is accepted."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import REF, Sandbox, git, sandbox
from tests.fakes.model_server import ModelServer
from tests.real_agents.conformance_agents import GIT_AS_AGENT, write_json
from tests.real_agents.harness import codex_env

__all__ = ["sandbox"]  # the e2e sandbox fixture, reused

CRITERION = "Failed deliveries retry with exponential backoff"


def test_codex_done_without_evidence_is_nudged_with_the_criterion_that_lacks_it(
    sandbox: Sandbox, agent_bin: Path, tmp_path: Path
) -> None:
    """Seen red with the evidence check off (`[verify] evidence = "off"`): the first
    done was accepted, and no second request reached the model."""
    (sandbox.repo / ".middle" / "verify.toml").write_text(
        '[[gate]]\nname = "ok"\ncommand = "true"\n'
    )
    work = (
        f"echo retry > RETRY.md && {GIT_AS_AGENT} add RETRY.md && {GIT_AS_AGENT} commit -qm retry"
    )
    evidence = [{"criterion": CRITERION, "evidence": "RETRY.md"}]
    turns = [
        {"run": [work, write_json(".middle/done.json", {"summary": "retry"})], "say": "Done."},
        {
            "run": [write_json(".middle/done.json", {"summary": "retry", "evidence": evidence})],
            "say": "Done, with evidence.",
        },
    ]
    with ModelServer(turns) as server:
        env = codex_env(tmp_path, server.url, sandbox.repo, agent_bin)
        policy = sandbox.repo / ".middle" / "policy.toml"
        policy.write_text(
            policy.read_text()
            + '\n[repo]\ndefault_adapter = "codex"\n'
            + '\n[adapters.codex]\nenv_pass = ["SCRIPTED_MODEL_API_KEY"]\n'
        )
        git(sandbox.repo, "add", "-A")
        git(sandbox.repo, "commit", "-qm", "gates and policy")

        result = sandbox.middle("implement", "--issue", REF, env=env)

        prompts = server.prompts()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(prompts) == 2, prompts
    nudge = prompts[1]
    assert nudge.startswith("Not done yet: the acceptance criteria need evidence."), nudge
    assert f'"{CRITERION}" (no evidence given)' in nudge
    assert "ready for review" in result.stdout, result.stdout
    (judged_first, judged_last) = [e["ok"] for e in sandbox.events("evidence.judged")]
    assert (judged_first, judged_last) == (False, True)
