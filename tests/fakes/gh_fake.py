"""A fake `gh` for the tests: GitHub's JSON shapes, backed by a JSON state file.

It answers exactly the commands middle (and the stand-in agent) issue, with payloads shaped
like `gh ... --json` output and GitHub's REST API, and refuses anything else, so a new
call cannot pass untested. State: the file named by FAKE_GH_STATE; every call is appended
to its "calls" list, and every refused one also to "refused" (args, exit code, stderr).

Who gh is logged in as:

- by default a user's own login (`gh auth login`, kept in the keyring): the account
  `login`, for any process of that user;
- with `token` set (`{"value": "ghs_...", "bot": "github-actions[bot]"}`), only an
  installation token, as on a GitHub Actions runner (the job's `GH_TOKEN`) or for a GitHub
  App (`<app-slug>[bot]`). A call without `GH_TOKEN`/`GITHUB_TOKEN` in its environment
  fails as gh does with no login at all (exit 4, gh's own hint for Actions, CI or a
  terminal); `GET /user` is a 403 ("Resource not accessible by integration"); GraphQL's
  `viewer` is the bot; and what the token writes is authored by the bot (type `Bot`,
  author association `NONE`).

More repositories: `repos` maps another `owner/name` to a state of its own (`issues`,
`prs`, `git_remote`, ...); a call that names it (`--repo owner/name`, or an API path
under `repos/owner/name/`) is answered from it, as the same account. An issue of
another repository is named `owner/name#n` wherever the state lists issues (an Epic's
`sub_issues`, a `blocked_by`, a `parent`): GitHub's sub-issues and dependencies cross
repositories, and its REST issue says which one in `repository_url`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

HOST = "https://github.com"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Refused(Exception):
    """A call gh would refuse: `message` on stderr, `body` (GitHub's error JSON) on
    stdout, exit `code`."""

    def __init__(self, message: str, code: int = 1, body: Any = None) -> None:
        super().__init__(message)
        self.message, self.code, self.body = message, code, body


def fail(message: str, code: int = 1, body: Any = None) -> None:
    raise Refused(message, code, body)


BOT_IDS = {"github-actions[bot]": 41898282}
VIEWER_LOGIN = re.compile(r"\s*(query\s*)?\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*")


def auth_help() -> str:
    """What gh prints, exit code 4, when it has no token at all (gh's own `authHelp`)."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return (
            "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment "
            "variable. Example:\n  env:\n    GH_TOKEN: ${{ github.token }}"
        )
    if os.environ.get("CI"):
        return "gh: To use GitHub CLI in automation, set the GH_TOKEN environment variable."
    return (
        "To get started with GitHub CLI, please run:  gh auth login\n"
        "Alternatively, populate the GH_TOKEN environment variable with a GitHub API "
        "authentication token."
    )


def env_token() -> str | None:
    return os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN") or None


def authenticate(state: dict[str, Any]) -> None:
    """Refuse the call as gh does when this process holds no usable token."""
    token = state.get("token")
    if token is None:
        return  # a user's keyring login: every process of the user has it
    given = env_token()
    if given is None:
        fail(auth_help(), 4)
    if given != token["value"]:
        fail("HTTP 401: Bad credentials (https://api.github.com/graphql)\n"
             "Try authenticating with:  gh auth login")  # fmt: skip


def actor(state: dict[str, Any]) -> tuple[str, bool]:
    """Who this call acts as: (login, is a bot)."""
    token = state.get("token")
    return (token["bot"], True) if token is not None else (state["login"], False)


def issue_json(repo: str, number: str, issue: dict[str, Any]) -> dict[str, Any]:
    """An issue as `gh issue view/list --json` gives it, every field; callers pick."""
    return {
        "number": int(number),
        "title": issue["title"],
        "body": issue.get("body", ""),
        "labels": [
            {"id": f"LA_{n}", "name": n, "description": "", "color": "ededed"}
            for n in issue.get("labels", [])
        ],
        "state": issue.get("state", "OPEN"),
        "url": f"{HOST}/{repo}/issues/{number}",
    }


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    """A flag's value, given as `--name value` or `--name=value` (as gh's pflag reads it)."""
    for arg in args:
        if arg.startswith(f"{name}="):
            return arg.partition("=")[2]
    return args[args.index(name) + 1] if name in args else default


def user(login: str, bot: bool = False) -> dict[str, Any]:
    number = BOT_IDS.get(login, sum(ord(c) * 31**i for i, c in enumerate(login)) % 10**7)
    return {"login": login, "id": number, "type": "Bot" if bot else "User"}


def comment_json(repo: str, number: str, c: dict[str, Any]) -> dict[str, Any]:
    """An issue comment as GitHub's REST API gives it."""
    return {
        "id": c["id"],
        "node_id": f"IC_{c['id']}",
        "body": c["body"],
        "user": user(c["login"], c.get("bot", False)),
        "created_at": c["created_at"],
        "updated_at": c.get("updated_at", c["created_at"]),
        "html_url": f"{HOST}/{repo}/issues/{number}#issuecomment-{c['id']}",
        "author_association": c.get("association", "MEMBER"),
    }


PRIMARY: dict[str, Any] = {}  # the state file's own repository, for `elsewhere`


def elsewhere(state: dict[str, Any], number: Any) -> tuple[dict[str, Any], str]:
    """The repository state and number of an issue named `n` or `owner/name#n`."""
    slug, hash_, n = str(number).rpartition("#")
    if not hash_ or slug == state["repo"]:
        return state, str(number).lstrip("#")
    if PRIMARY and slug == PRIMARY["repo"]:
        return PRIMARY, n
    if slug not in state.get("repos", {}):
        fail("gh: Not Found (HTTP 404)")
    return {**state["repos"][slug], "repo": slug, "repos": state.get("repos", {})}, n


def rest_issue(state: dict[str, Any], number: str) -> dict[str, Any]:
    state, number = elsewhere(state, number)
    issue = state["issues"][number]
    return {
        "id": 1000 + int(number),
        "node_id": f"I_{number}",
        "number": int(number),
        "title": issue["title"],
        "body": issue.get("body", ""),
        "state": "open" if issue.get("state", "OPEN") == "OPEN" else "closed",
        "html_url": f"{HOST}/{state['repo']}/issues/{number}",
        "url": f"https://api.github.com/repos/{state['repo']}/issues/{number}",
        "repository_url": f"https://api.github.com/repos/{state['repo']}",
        "user": user(issue.get("author", "alice")),
        "labels": [{"name": name} for name in issue.get("labels", [])],
        **issue_summaries(state, issue),
    }


def issue_summaries(state: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
    """What GitHub's REST issue says of its sub-issues, parent and dependencies: the
    sub-issue counts (completed: closed ones), `parent_issue_url` only for a sub-issue,
    and `blocked_by` counting the open blockers only."""

    def closed(number: Any) -> bool:
        where, n = elsewhere(state, number)
        return where["issues"].get(n, {}).get("state", "OPEN") != "OPEN"

    subs, blockers = issue.get("sub_issues", []), issue.get("blocked_by", [])
    done = sum(1 for n in subs if closed(n))
    found: dict[str, Any] = {
        "sub_issues_summary": {
            "total": len(subs), "completed": done,
            "percent_completed": 100 * done // len(subs) if subs else 0,
        },
        "issue_dependencies_summary": {
            "blocked_by": sum(1 for n in blockers if not closed(n)),
            "total_blocked_by": len(blockers), "blocking": 0, "total_blocking": 0,
        },
    }  # fmt: skip
    if issue.get("parent"):
        where, n = elsewhere(state, issue["parent"])
        found["parent_issue_url"] = f"https://api.github.com/repos/{where['repo']}/issues/{n}"
    return found


def api(state: dict[str, Any], path: str) -> Any:
    repo = state["repo"]
    if path == "user":
        if state.get("token") is not None:  # an installation token has no user
            docs = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
            message = "Resource not accessible by integration"
            body = {"message": message, "documentation_url": docs, "status": "403"}
            fail(f"gh: {message} (HTTP 403)", 1, body)
        return user(state["login"])
    if path == "rate_limit":
        core = {"limit": 5000, "used": 13, "remaining": 4987, "reset": 1_900_000_000}
        return {"resources": {"core": core, "graphql": dict(core)}, "rate": core}
    match = re.fullmatch(rf"repos/{re.escape(repo)}/branches/([^?]+)", path)
    if match:  # one branch, as GitHub shows it: read off the bare remote, when there is one
        found = subprocess.run(
            ["git", "--git-dir", state.get("git_remote") or "/nonexistent", "rev-parse",
             "--verify", "-q", f"refs/heads/{match[1]}"], capture_output=True, text=True,
        )  # fmt: skip
        if found.returncode != 0:
            fail("gh: Branch not found (HTTP 404)")
        sha = found.stdout.strip()
        commit_url = f"https://api.github.com/repos/{repo}/commits/{sha}"
        return {"name": match[1], "commit": {"sha": sha, "url": commit_url}, "protected": False}
    match = re.fullmatch(rf"repos/{re.escape(repo)}/issues/(\d+)/dependencies/blocked_by", path)
    if match:  # GitHub's issue dependencies: the issues this one is blocked by
        if match[1] not in state["issues"]:
            fail("gh: Not Found (HTTP 404)")
        return [rest_issue(state, str(n)) for n in state["issues"][match[1]].get("blocked_by", [])]
    match = re.fullmatch(
        rf"repos/{re.escape(repo)}/issues/(\d+)/(sub_issues|parent|comments)", path
    )
    if match:
        number, what = match.groups()
        is_pr = any(str(p["number"]) == number for p in state["prs"])
        if what == "comments" and is_pr:  # a PR is an issue too: its conversation comments
            comments = state.get("comments", {}).get(number, [])
            return [comment_json(repo, number, c) for c in comments]
        if number not in state["issues"]:
            fail("gh: Not Found (HTTP 404)")
        issue = state["issues"][number]
        if what == "sub_issues":
            return [rest_issue(state, str(n)) for n in issue.get("sub_issues", [])]
        if what == "parent":
            if not issue.get("parent"):
                fail("gh: Not Found (HTTP 404)")
            return rest_issue(state, str(issue["parent"]))
        return [
            comment_json(repo, number, c) for c in state.setdefault("comments", {}).get(number, [])
        ]
    match = re.fullmatch(rf"repos/{re.escape(repo)}/issues/comments/(\d+)", path)
    if match:  # one issue comment, by its id, wherever it is
        for number, comments in state.get("comments", {}).items():
            for c in comments:
                if c["id"] == int(match[1]):
                    return comment_json(repo, number, c)
        fail("gh: Not Found (HTTP 404)")
    match = re.fullmatch(rf"repos/{re.escape(repo)}/collaborators/([^/]+)/permission", path)
    if match:  # GitHub answers 404 for someone who is not a collaborator at all
        role = state.get("permissions", {}).get(match[1])
        if role is None:
            docs = "https://docs.github.com/rest/collaborators/collaborators"
            body = {"message": "Not Found", "documentation_url": docs, "status": "404"}
            fail("gh: Not Found (HTTP 404)", 1, body)
        # `permission` is the legacy base role (maintain reads as write, triage as read,
        # a custom role as the role it is based on); `role_name` the role itself.
        # A custom role is written "name:base".
        name, _, base = role.partition(":")
        legacy = base or {"maintain": "write", "triage": "read"}.get(name, name)
        collaborator = {**user(match[1]), "role_name": name}
        return {"permission": legacy, "role_name": name, "user": collaborator}
    match = re.fullmatch(rf"repos/{re.escape(repo)}/pulls/(\d+)", path)
    if match:
        pr = next((p for p in state["prs"] if p["number"] == int(match[1])), None)
        if pr is None:
            fail("gh: Not Found (HTTP 404)")
        return pull_json(state, pr)
    match = re.fullmatch(rf"repos/{re.escape(repo)}/pulls/(\d+)/reviews/(\d+)/comments", path)
    if match:  # one review's line comments, GitHub's (legacy) review comment shape
        pr = next((p for p in state["prs"] if p["number"] == int(match[1])), None)
        reviews = (pr or {}).get("reviews", [])
        if pr is None or not 1 <= int(match[2]) <= len(reviews):
            fail("gh: Not Found (HTTP 404)")
        review = reviews[int(match[2]) - 1]
        return [
            review_comment_json(repo, pr, int(match[2]), review, index, c)
            for index, c in enumerate(review.get("comments", []))
        ]
    match = re.fullmatch(rf"repos/{re.escape(repo)}/pulls/(\d+)/reviews", path)
    if match:
        pr = next((p for p in state["prs"] if p["number"] == int(match[1])), None)
        if pr is None:
            fail("gh: Not Found (HTTP 404)")
        return [
            {
                "id": index + 1,
                "user": user(r["login"], r.get("bot", False)),
                "author_association": r.get("association", "COLLABORATOR"),
                "body": r.get("body", ""),
                "state": r["state"],
                "submitted_at": r["submitted_at"],
                "commit_id": pr["headRefOid"],
                "html_url": f"{HOST}/{repo}/pull/{pr['number']}#pullrequestreview-{index + 1}",
            }
            for index, r in enumerate(pr.get("reviews", []))
        ]
    fail(f"fake gh: unsupported api path: {path}")


def head_oid(state: dict[str, Any], pr: dict[str, Any]) -> str:
    """The PR's head commit: as GitHub does, whatever its branch on the remote points at
    now (when the state names the bare remote and the branch is there)."""
    if state.get("git_remote"):
        found = subprocess.run(
            ["git", "--git-dir", state["git_remote"], "rev-parse", "--verify", "-q",
             f"refs/heads/{pr['head']}"], capture_output=True, text=True,
        )  # fmt: skip
        if found.returncode == 0:
            return found.stdout.strip()
    return str(pr["headRefOid"])


def pull_json(state: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    """`GET /repos/O/R/pulls/N`. Mergeability as GitHub computes it, by a test merge of
    the head into the base on the remote; without a remote to merge on, or for a PR that
    is not open, GitHub has not computed it: `mergeable` null, `mergeable_state`
    "unknown". A draft's state is "draft", whatever the merge says."""
    head, base = head_oid(state, pr), pr.get("base", "main")
    mergeable, merge_state = None, "unknown"
    if pr["state"] == "OPEN" and state.get("git_remote"):
        merged = subprocess.run(
            ["git", "--git-dir", state["git_remote"], "merge-tree", "--write-tree",
             f"refs/heads/{base}", head], capture_output=True, text=True,
        )  # fmt: skip
        if merged.returncode in (0, 1):
            mergeable = merged.returncode == 0
            merge_state = "draft" if pr["isDraft"] else "clean" if mergeable else "dirty"
    return {
        "number": pr["number"],
        "state": "open" if pr["state"] == "OPEN" else "closed",
        "merged": pr["state"] == "MERGED",
        "draft": pr["isDraft"],
        "mergeable": mergeable,
        "mergeable_state": merge_state,
        "head": {"ref": pr["head"], "sha": head},
        "base": {"ref": base},
        "html_url": f"{HOST}/{state['repo']}/pull/{pr['number']}",
    }


class Raw(str):
    """Output printed as is (several JSON documents back to back)."""


def paged(result: Any, path: str, paginate: bool) -> Any:
    """A list as GitHub's REST API pages it: `per_page` items (default 30, at most 100)
    from `page` (default 1). Without `--paginate`, gh prints that one page; with it, gh
    follows the Link headers and prints each page's JSON array one after another (the
    form older gh versions print; middle's reader also takes one merged array)."""
    if not isinstance(result, list):
        return result
    query = dict(p.partition("=")[::2] for p in path.partition("?")[2].split("&") if p)
    size = min(int(query.get("per_page", 30)), 100)
    pages = [result[i : i + size] for i in range(0, len(result), size)] or [[]]
    if paginate:
        return Raw("".join(json.dumps(page) for page in pages))
    number = int(query.get("page", 1))
    return pages[number - 1] if number <= len(pages) else []


def with_headers(result: Any, path: str, page: Any, status: int, tag: str) -> Raw:
    """`gh api -i`: the status line, then the headers as gh prints them (sorted, Go's
    canonical names, each line ending in CRLF, then an empty CRLF line), with GitHub's
    ETag and, on a list that has more pages, its Link header (`rel="next"` and
    `rel="last"`); then the body (none for a 304)."""
    headers = {"Etag": tag}
    if status == 200:
        headers["Content-Type"] = "application/json; charset=utf-8"
    if isinstance(result, list) and status == 200:
        base, _, query = path.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        size = min(int(params.get("per_page", 30)), 100)
        number, last = int(params.get("page", 1)), max(1, -(-len(result) // size))
        kept = "".join(f"{k}={v}&" for k, v in params.items() if k not in ("per_page", "page"))
        url = f"https://api.github.com/{base}?{kept}per_page={size}&page="
        links = [f'<{url}{number + 1}>; rel="next"'] if number < last else []
        links += [f'<{url}{last}>; rel="last"'] if number < last else []
        if links:
            headers["Link"] = ", ".join(links)
    body = page if isinstance(page, Raw) else json.dumps(page) if status == 200 else ""
    reason = {200: "OK", 304: "Not Modified"}[status]
    lines = "".join(f"{name}: {value}\r\n" for name, value in sorted(headers.items()))
    return Raw(f"HTTP/2.0 {status} {reason}\n{lines}\r\n{body}")


def etag(page: Any) -> str:
    """GitHub's weak ETag of a response: it changes exactly when the body does."""
    text = page if isinstance(page, Raw) else json.dumps(page, sort_keys=True)
    return 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:40] + '"'


def api_request(args: list[str]) -> tuple[str, set[str], dict[str, str]] | None:
    """`gh api [--paginate] [-i] [-H 'Name: value']... PATH` as (path, flags, headers
    by lower-case name); None for any other form of `gh api`."""
    if args[:1] != ["api"] or len(args) < 2 or args[-1].startswith("-"):
        return None
    flags: set[str] = set()
    headers: dict[str, str] = {}
    rest = args[1:-1]
    while rest:
        if rest[0] in ("-H", "--header") and len(rest) > 1:
            name, _, value = rest[1].partition(":")
            headers[name.strip().lower()] = value.strip()
            rest = rest[2:]
        elif rest[0] in ("--paginate", "-i", "--include"):
            flags.add("-i" if rest[0] == "--include" else rest[0])
            rest = rest[1:]
        else:
            return None
    return args[-1], flags, headers


def query_of(path: str) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in path.partition("?")[2].split("&") if p)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def listing(state: dict[str, Any], path: str) -> list[Any] | None:
    """The repository-wide lists, with their filters: issue comments (`since`: updated
    at or after; oldest first), pull requests (`state`, sorted by `sort`/`direction`) and
    issues (`state`, `labels`: all of them; newest first; pull requests are issues too,
    as GitHub lists them). None for any other path."""
    repo, base, query = state["repo"], path.partition("?")[0], query_of(path)
    if base == f"repos/{repo}/issues/comments":
        since = moment(query["since"]) if "since" in query else None
        found = []
        for number, comments in state.get("comments", {}).items():
            for c in comments:
                if since is None or moment(c.get("updated_at", c["created_at"])) >= since:
                    url = f"https://api.github.com/repos/{repo}/issues/{number}"
                    found.append({**comment_json(repo, number, c), "issue_url": url})
        return sorted(found, key=lambda c: (moment(c["created_at"]), c["id"]))
    if base == f"repos/{repo}/pulls":
        wanted = query.get("state", "open")
        pulls = [rest_pull(state, pr) for pr in state["prs"]]
        pulls = [p for p in pulls if wanted in ("all", p["state"])]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        newest_first = query.get("direction", "desc") == "desc"
        return sorted(pulls, key=lambda p: (p[key], p["number"]), reverse=newest_first)
    if base == f"repos/{repo}/issues":
        wanted = query.get("state", "open")
        labels = [name for name in query.get("labels", "").split(",") if name]
        found = []
        for number, issue in state["issues"].items():
            is_open = issue.get("state", "OPEN") == "OPEN"
            if wanted != "all" and is_open != (wanted == "open"):
                continue
            if all(name in issue.get("labels", []) for name in labels):
                found.append(rest_issue(state, number))
        if not labels:  # a pull request is an issue too, with a `pull_request` key
            for pr in state["prs"]:
                if wanted in ("all", "open" if pr["state"] == "OPEN" else "closed"):
                    pull = rest_pull(state, pr)
                    found.append(
                        {"number": pr["number"], "title": pull["title"], "state": pull["state"],
                         "labels": [], "body": pr.get("body", ""),
                         "pull_request": {"url": pull["url"]}}
                    )  # fmt: skip
        return sorted(found, key=lambda i: -int(i["number"]))
    return None


def rest_pull(state: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    """A pull request as GitHub's REST list gives it; `updated_at` moves with a review."""
    repo = state["repo"]
    stamps = [pr.get("updated_at", "2026-01-01T00:00:00Z")]
    stamps += [r["submitted_at"] for r in pr.get("reviews", []) if r.get("submitted_at")]
    merged = pr["state"] == "MERGED"
    owner = pr.get("head_owner", repo.split("/")[0])
    return {
        "number": pr["number"],
        "url": f"https://api.github.com/repos/{repo}/pulls/{pr['number']}",
        "html_url": f"{HOST}/{repo}/pull/{pr['number']}",
        "state": "open" if pr["state"] == "OPEN" else "closed",
        "draft": pr.get("isDraft", False),
        "title": pr.get("title", ""),
        "user": user(pr.get("author", "middle-bot"), pr.get("author_is_bot", False)),
        "created_at": pr.get("created_at", "2026-01-01T00:00:00Z"),
        "updated_at": max(stamps, key=moment),
        "merged_at": pr.get("merged_at", stamps[0]) if merged else None,
        "head": {"ref": pr["head"], "sha": pr["headRefOid"],
                 "repo": {"full_name": f"{owner}/{repo.split('/')[1]}",
                          "owner": {"login": owner}}},
        "base": {"ref": pr.get("base", "main"),
                 "repo": {"full_name": repo, "owner": {"login": repo.split("/")[0]}}},
    }  # fmt: skip


def git_credential(state: dict[str, Any], stdin: str) -> Raw | None:
    """`gh auth git-credential get`: git's credential helper protocol, answering for
    github.com with the token gh holds (nothing, exit 1, without one)."""
    asked = dict(line.partition("=")[::2] for line in stdin.splitlines() if "=" in line)
    token = state.get("token")
    secret = (env_token() if token is not None else state.get("user_token")) or None
    if asked.get("host") != "github.com" or secret is None:
        fail("", 1)
    login = "x-access-token" if token is not None else state["login"]
    lines = [f"protocol={asked.get('protocol', 'https')}", "host=github.com"]
    return Raw("\n".join([*lines, f"username={login}", f"password={secret}"]))


def handle(state: dict[str, Any], args: list[str], stdin: str) -> Any:
    repo = state["repo"]
    if args == ["--version"]:
        print("gh version 2.63.0 (2024-11-27)\nhttps://github.com/cli/cli/releases/tag/v2.63.0")
        return None
    if args[:2] == ["auth", "status"]:  # `auth` commands need no login to run
        if not state.get("auth_ok", True) or (state.get("token") and env_token() is None):
            fail("You are not logged into any GitHub hosts. To log in, run: gh auth login")
        source = "GH_TOKEN" if state.get("token") else "keyring"
        print(
            f"github.com\n  ✓ Logged in to github.com account {actor(state)[0]} ({source})",
            file=sys.stderr,
        )
        return None
    if args == ["auth", "git-credential", "get"]:
        return git_credential(state, stdin)
    authenticate(state)
    if args[:2] == ["api", "graphql"] and len(args) == 4 and args[2] == "-f":
        query = args[3].removeprefix("query=")
        if args[3].startswith("query=") and VIEWER_LOGIN.fullmatch(query):
            return {"data": {"viewer": {"login": actor(state)[0]}}}
        fail(f"fake gh: unsupported graphql query: {args[3]}")
    request = api_request(args)
    if request is not None:
        path, flags, headers = request
        found = listing(state, path)
        result = found if found is not None else api(state, path.partition("?")[0])
        page = paged(result, path, "--paginate" in flags)
        tag = etag(page)
        if headers.get("if-none-match") == tag and "--paginate" not in flags:
            # GitHub's 304 (no body, free of quota); gh exits 1 on any status above 299
            head = with_headers(result, path, "", 304, tag) if "-i" in flags else None
            fail("gh: HTTP 304", 1, head)
        return with_headers(result, path, page, 200, tag) if "-i" in flags else page
    if args[:3] == ["api", "--method", "PATCH"] and args[4:] == ["--input", "-"]:
        match = re.fullmatch(rf"repos/{re.escape(repo)}/issues/comments/(\d+)", args[3])
        found = [
            (number, c)
            for number, comments in state.get("comments", {}).items()
            for c in comments
            if match and c["id"] == int(match[1])
        ]
        if not found:
            fail("gh: Not Found (HTTP 404)")
        number, comment = found[0]
        if (comment["login"], comment.get("bot", False)) != actor(state):
            fail("gh: Resource not accessible by integration (HTTP 403)"
                 if state.get("token") else "gh: Not Found (HTTP 404)")  # fmt: skip
        comment["body"] = json.loads(stdin)["body"]
        comment["updated_at"] = now()
        return comment_json(repo, number, comment)
    if args[:3] == ["api", "--method", "POST"] and args[4:] == ["--input", "-"]:
        match = re.fullmatch(rf"repos/{re.escape(repo)}/pulls/(\d+)/reviews", args[3])
        if match:
            return post_review(state, int(match[1]), json.loads(stdin))
    if args[:2] == ["issue", "view"] and "--json" in args:
        number, where = args[2], option(args, "--repo")
        issues = state["issues"] if where == repo else state.get("foreign", {}).get(where, {})
        issue = issues.get(number)
        if issue is None:
            resolve = "Could not resolve to an issue or pull request with the number of"
            fail(f"GraphQL: {resolve} {number}. (repository.issue)")
        full = issue_json(where or repo, number, issue)
        return {key: full[key] for key in option(args, "--json", "").split(",")}
    if args[:2] == ["issue", "list"] and option(args, "--repo") == repo:
        wanted = option(args, "--label")
        open_only = option(args, "--state", "open") == "open"
        fields = option(args, "--json", "").split(",")
        listed = []
        for number, issue in sorted(state["issues"].items(), key=lambda kv: -int(kv[0])):
            if open_only and issue.get("state", "OPEN") != "OPEN":
                continue
            if wanted is not None and wanted not in issue.get("labels", []):
                continue
            full = issue_json(repo, number, issue)
            listed.append({key: full[key] for key in fields})
        return listed[: int(option(args, "--limit", "30") or 30)]
    if args[:2] == ["issue", "create"] and option(args, "--repo") == repo:
        number = str(1 + max((int(n) for n in state["issues"]), default=0))
        label = option(args, "--label")
        if label is not None and label not in state.get("labels", {}):
            fail(f"could not add label: '{label}' not found")
        state["issues"][number] = {
            "title": option(args, "--title", ""),
            "body": stdin if option(args, "--body-file") == "-" else option(args, "--body", ""),
            "labels": [label] if label else [],
        }
        print(f"{HOST}/{repo}/issues/{number}")
        return None
    if args[:2] == ["issue", "edit"] and option(args, "--repo") == repo:
        number = args[2]
        if number not in state["issues"]:
            fail(f"GraphQL: Could not resolve to an issue with the number of {number}.")
        label = option(args, "--add-label")
        if label is not None:  # as GitHub: only a label the repository has
            if label not in state.get("labels", {}):
                fail(f"failed to update {HOST}/{repo}/issues/{number}: '{label}' not found")
            labels = state["issues"][number].setdefault("labels", [])
            labels += [] if label in labels else [label]
        if option(args, "--body-file") == "-":
            state["issues"][number]["body"] = stdin
        print(f"{HOST}/{repo}/issues/{number}")
        return None
    if args[:2] == ["pr", "comment"] and option(args, "--body-file") == "-":
        # A PR's conversation comments are issue comments on its number (REST).
        if not any(str(p["number"]) == args[2] for p in state["prs"]):
            fail(f"GraphQL: Could not resolve to a PullRequest with the number of {args[2]}.")
        args = ["issue", *args[1:]]
    if args[:2] == ["issue", "comment"] and option(args, "--body-file") == "-":
        number = args[2]
        comments = state.setdefault("comments", {}).setdefault(number, [])
        comment_id = 100 + sum(len(c) for c in state["comments"].values())
        login, bot = actor(state)
        written = {"id": comment_id, "login": login, "body": stdin, "created_at": now()}
        if bot:  # a bot has no role on the repository
            written.update(bot=True, association="NONE")
        comments.append(written)
        print(f"{HOST}/{repo}/issues/{number}#issuecomment-{comment_id}")
        return None
    if args[:2] == ["pr", "list"] and option(args, "--repo") == repo:
        head = option(args, "--head")
        prs = [p for p in state["prs"] if p["head"] == head]
        fields = option(args, "--json", "").split(",")
        owner = repo.split("/")[0]
        return [
            {
                k: {
                    **p,
                    "url": f"{HOST}/{repo}/pull/{p['number']}",
                    "headRepositoryOwner": {"login": p.get("head_owner", owner)},
                    "headRefOid": head_oid(state, p),
                }.get(k)
                for k in fields
            }
            for p in prs
        ]
    if args[:2] == ["pr", "create"]:
        return create_pr(state, args, stdin)
    if args[:2] == ["pr", "edit"] and option(args, "--repo") == repo and "--body-file" in args:
        if option(args, "--body-file") != "-":
            fail("fake gh: only --body-file - is supported")
        pr = next((p for p in state["prs"] if str(p["number"]) == args[2]), None)
        if pr is None:
            fail(f"GraphQL: Could not resolve to a PullRequest with the number of {args[2]}.")
        pr["body"] = stdin
        print(f"{HOST}/{repo}/pull/{args[2]}")
        return None
    if args[:2] == ["pr", "ready"] and option(args, "--repo") == repo:
        pr = next((p for p in state["prs"] if str(p["number"]) == args[2]), None)
        if pr is None:
            fail(f"GraphQL: Could not resolve to a PullRequest with the number of {args[2]}.")
        if "--undo" in args:  # as gh 2.x: back to draft, and says so on stderr
            if pr["isDraft"]:
                print(f'! Pull request {repo}#{args[2]} is already "in draft"', file=sys.stderr)
                return None
            pr["isDraft"] = True
            state.setdefault("undone", []).append(pr["number"])
            print(f'✓ Pull request {repo}#{args[2]} is converted to "draft"', file=sys.stderr)
            return None
        pr["isDraft"] = False
        print(f'✓ Pull request {repo}#{args[2]} is marked as "ready for review"', file=sys.stderr)
        return None
    if args[:2] == ["pr", "checks"]:
        return pr_checks(state, args)
    if args[:2] == ["run", "view"]:
        return run_view(state, args)
    if args[:2] == ["label", "create"] and option(args, "--repo") == repo:
        if args[2] in state.get("labels", {}) and "--force" not in args:
            fail(  # gh's own words; --force updates the colour and description instead
                f'label with name "{args[2]}" already exists; use `--force` to update its '
                "color and description"
            )
        state.setdefault("labels", {})[args[2]] = {
            "color": option(args, "--color"),
            "description": option(args, "--description"),
        }
        return None
    fail(f"fake gh: unsupported command: gh {' '.join(args)}")


CHECK_FIELDS = ("name", "state", "startedAt", "completedAt", "link", "bucket", "event",
                "workflow", "description")  # fmt: skip
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, as gh's JSON writes it


def bucket(state: str) -> str:
    """gh's bucket for a check's state (pkg/cmd/pr/checks/aggregate.go)."""
    if state == "SUCCESS":
        return "pass"
    if state in ("SKIPPED", "NEUTRAL"):
        return "skipping"
    if state in ("ERROR", "FAILURE", "TIMED_OUT", "ACTION_REQUIRED"):
        return "fail"
    if state == "CANCELLED":
        return "cancel"
    return "pending"  # EXPECTED, REQUESTED, WAITING, QUEUED, PENDING, IN_PROGRESS, STALE


def pr_checks(state: dict[str, Any], args: list[str]) -> Any:
    """`gh pr checks N --repo R [--required] [--json FIELDS]`, as gh 2.6x answers it.

    A PR's `checks` are its head commits' check runs and statuses: `{"name", "state"
    (GitHub's: SUCCESS, FAILURE, IN_PROGRESS, ...), "required", "head" (default: the PR's
    current headRefOid), "link", "workflow", "event", "description", "startedAt",
    "completedAt"}`. Only the current head's count (the status check rollup of the PR's
    last commit), the latest of repeated runs of one check. `--required` keeps the ones
    branch protection requires (`isRequired`, which is no `--json` field). With `--json`
    gh exits 0 whatever the checks say; its table exits 1 when any failed and 8 when
    any is pending. No checks at all is an error naming the head branch."""
    repo = state["repo"]
    number = args[2] if len(args) > 2 and not args[2].startswith("-") else None
    if number is None and option(args, "--repo") is not None:
        fail("argument required when using the `--repo` flag")
    if option(args, "--repo") != repo:
        fail(f"fake gh: unsupported command: gh {' '.join(args)}")
    pr = next((p for p in state["prs"] if str(p["number"]) == number), None)
    if pr is None:
        fail(f"GraphQL: Could not resolve to a PullRequest with the number of {number}. "
             "(repository.pullRequest)")  # fmt: skip
    fields = option(args, "--json")
    if fields is not None:
        unknown = [f for f in fields.split(",") if f not in CHECK_FIELDS]
        if unknown:
            listed = "\n".join(f"  {f}" for f in sorted(CHECK_FIELDS))
            fail(f'Unknown JSON field: "{unknown[0]}"\nAvailable fields:\n{listed}')
    on_head = [
        c for c in pr.get("checks", []) if c.get("head", pr["headRefOid"]) == pr["headRefOid"]
    ]
    if not on_head:
        fail(f"no checks reported on the '{pr['head']}' branch")
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in sorted(on_head, key=lambda c: c.get("startedAt") or ZERO_TIME, reverse=True):
        latest.setdefault((c["name"], c.get("workflow", ""), c.get("event", "")), c)
    checks = [c for c in latest.values() if c.get("required") or "--required" not in args]
    if not checks:
        fail(f"no required checks reported on the '{pr['head']}' branch")
    rows = [
        {
            "name": c["name"],
            "state": c["state"],
            "startedAt": c.get("startedAt") or ZERO_TIME,
            "completedAt": c.get("completedAt") or ZERO_TIME,
            "link": c.get("link", ""),
            "bucket": bucket(c["state"]),
            "event": c.get("event", ""),
            "workflow": c.get("workflow", ""),
            "description": c.get("description", ""),
        }
        for c in checks
    ]
    if fields is not None:
        return [{f: row[f] for f in fields.split(",")} for row in rows]
    for row in rows:  # not a terminal: NAME, STATUS, ELAPSED, URL, DESCRIPTION
        status = "fail" if row["bucket"] == "cancel" else row["bucket"]
        print("\t".join([row["name"], status, "0", row["link"], row["description"]]))
    buckets = {row["bucket"] for row in rows}
    if "fail" in buckets:
        fail("", 1)
    if "pending" in buckets:
        fail("", 8)
    return None


def run_view(state: dict[str, Any], args: list[str]) -> Any:
    """`gh run view RUN --repo R --log-failed`: each failed step's log lines, prefixed
    with the job's and the step's names and a tab each (and the timestamp GitHub writes
    on every line). A run's `runs` entry: `{"status": "completed" | "in_progress", "jobs":
    [{"name", "steps": [{"name", "conclusion", "log": [lines]}]}]}`."""
    repo = state["repo"]
    if option(args, "--repo") != repo or "--log-failed" not in args or len(args) < 3:
        fail(f"fake gh: unsupported command: gh {' '.join(args)}")
    run_id = args[2]
    run = state.get("runs", {}).get(run_id)
    if run is None:
        url = f"https://api.github.com/repos/{repo}/actions/runs/{run_id}"
        fail(f"failed to get run: HTTP 404: Not Found ({url}?exclude_pull_requests=true)")
    if run.get("status", "completed") != "completed":
        fail(f"run {run_id} is still in progress; logs will be available when it is complete")
    failed = ("action_required", "failure", "startup_failure", "timed_out")  # IsFailureState
    for job in run["jobs"]:
        for step in job["steps"]:
            if step.get("conclusion") in failed:
                for line in step.get("log", []):
                    print(f"{job['name']}\t{step['name']}\t2026-01-01T00:00:00.0000000Z {line}")
    return None


def unprocessable(*errors: str) -> None:
    """GitHub's 422, as gh prints it: the message, then each error on a line of its own."""
    docs = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
    body = {"message": "Unprocessable Entity", "errors": list(errors),
            "documentation_url": docs, "status": "422"}  # fmt: skip
    fail("gh: Unprocessable Entity (HTTP 422)\n" + "\n".join(errors), 1, body)


def diff_hunk(state: dict[str, Any], pr: dict[str, Any], path: str, line: int) -> str | None:
    """GitHub's `diff_hunk` of a comment on new-side `line` of `path`: the PR's diff
    (merge base with main to its head, 3 lines of context), from the hunk's header down
    to that line; None when the line is not in the diff (GitHub refuses the comment)."""
    found = subprocess.run(
        ["git", "--git-dir", state["git_remote"], "diff", "--unified=3", "--no-color",
         f"main...{pr['headRefOid']}", "--", path], capture_output=True, text=True,
    )  # fmt: skip
    hunk: list[str] = []
    new = 0
    for text in found.stdout.splitlines():
        header = re.match(r"@@ -\S+ \+(\d+)", text)
        if header:
            hunk, new = [text], int(header[1])
            continue
        if not hunk or text[:1] not in ("+", "-", " "):
            continue
        hunk.append(text)
        if text[:1] != "-":
            if new == line:
                return "\n".join(hunk)
            new += 1
    return None


def post_review(state: dict[str, Any], number: int, review: dict[str, Any]) -> Any:
    """`POST repos/R/pulls/N/reviews`: a submitted review, with its line comments, as
    strict as GitHub: the event, a body where one is required, no verdict on one's own
    pull request, the head commit, and each comment on a line of the PR's diff (which the
    fake reads from `git_remote`; without it, line comments are refused untested)."""
    pr = next((p for p in state["prs"] if p["number"] == number), None)
    if pr is None:
        fail("gh: Not Found (HTTP 404)")
    login, bot = actor(state)
    event = review.get("event")
    if event not in ("APPROVE", "REQUEST_CHANGES", "COMMENT"):
        fail("fake gh: a review without an event (a pending review) is not supported")
    if event != "APPROVE" and not str(review.get("body") or "").strip():
        unprocessable(f"Review body is required for {event}")  # fmt: skip
    if event != "COMMENT" and pr["author"] == login:
        said = "request changes on" if event == "REQUEST_CHANGES" else "approve"
        unprocessable(f"Review Can not {said} your own pull request")
    commit = review.get("commit_id", pr["headRefOid"])
    if commit != pr["headRefOid"]:
        unprocessable(f"No commit found for SHA: {commit}")
    comments = review.get("comments", [])
    if comments and not state.get("git_remote"):
        fail("fake gh: line comments need the PR's commits (set the state's git_remote)")
    kept = []
    for c in comments:
        if set(c) - {"path", "line", "side", "body"} or not c.get("body"):
            unprocessable(f"Invalid comment: {json.dumps(c)}")
        if c.get("side", "RIGHT") != "RIGHT" or not isinstance(c.get("line"), int):
            unprocessable(f"Invalid comment: {json.dumps(c)}")
        hunk = diff_hunk(state, pr, str(c["path"]), c["line"])
        if hunk is None:
            unprocessable("Pull request review thread line must be part of the diff")
        kept.append({**c, "diff_hunk": hunk})
    states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}
    written = {
        "login": login, "bot": bot, "state": states.get(event, "COMMENTED"),
        "body": review.get("body", ""), "submitted_at": now(), "comments": kept,
        "association": "COLLABORATOR" if login in state.get("permissions", {}) else "NONE",
    }  # fmt: skip
    pr["reviews"].append(written)
    if event in ("APPROVE", "REQUEST_CHANGES") and pr.get("protected"):
        pr["reviewDecision"] = written["state"]
    review_id = len(pr["reviews"])
    return {
        "id": review_id,
        "user": user(login, bot),
        "body": written["body"],
        "state": written["state"],
        "commit_id": pr["headRefOid"],
        "html_url": f"{HOST}/{state['repo']}/pull/{number}#pullrequestreview-{review_id}",
        "submitted_at": written["submitted_at"],
        "author_association": written["association"],
    }


def review_comment_json(
    repo: str, pr: dict[str, Any], review_id: int, review: dict[str, Any], index: int,
    c: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """A review's line comment as `GET .../reviews/ID/comments` gives it."""
    comment_id = review_id * 1000 + index + 1
    number = pr["number"]
    return {
        "url": f"https://api.github.com/repos/{repo}/pulls/comments/{comment_id}",
        "pull_request_review_id": review_id,
        "id": comment_id,
        "node_id": f"PRRC_{comment_id}",
        "diff_hunk": c["diff_hunk"],
        "path": c["path"],
        "position": 1,
        "original_position": 1,
        "commit_id": pr["headRefOid"],
        "original_commit_id": pr["headRefOid"],
        "user": user(review["login"], review.get("bot", False)),
        "body": c["body"],
        "created_at": review["submitted_at"],
        "updated_at": review["submitted_at"],
        "html_url": f"{HOST}/{repo}/pull/{number}#discussion_r{comment_id}",
        "pull_request_url": f"https://api.github.com/repos/{repo}/pulls/{number}",
        "author_association": review.get("association", "COLLABORATOR"),
        "_links": {
            "self": {"href": f"https://api.github.com/repos/{repo}/pulls/comments/{comment_id}"}
        },
        "side": c.get("side", "RIGHT"),
        "line": c["line"],
        "original_line": c["line"],
    }


def create_pr(state: dict[str, Any], args: list[str], stdin: str) -> None:
    """`gh pr create --head B --title T --body(-file) ...`, as strict as gh and GitHub: a
    title and a body are required without a terminal, the head branch must be on GitHub
    (`git_remote`, when the state names the bare remote), and a branch has one open PR."""
    repo = state["repo"]
    head = option(args, "--head")
    body = stdin if option(args, "--body-file") == "-" else option(args, "--body")
    if option(args, "--title") is None or body is None:
        fail("must provide `--title` and `--body` (or `--fill` or `fill-first` or "
             "`--fillverbose`) when not running interactively")  # fmt: skip
    oid = "0" * 40
    if state.get("git_remote"):
        found = subprocess.run(
            ["git", "--git-dir", state["git_remote"], "rev-parse", "--verify", "-q",
             f"refs/heads/{head}"], capture_output=True, text=True,
        )  # fmt: skip
        if found.returncode != 0:
            fail("pull request create failed: GraphQL: Head sha can't be blank, Base sha "
                 "can't be blank, No commits between main and "
                 f"{head}, Head ref must be a branch (createPullRequest)")  # fmt: skip
        oid = found.stdout.strip()
    for pr in state["prs"]:
        if pr["head"] == head and pr["state"] == "OPEN" and not pr.get("head_owner"):
            fail(f'a pull request for branch "{head}" into branch "main" already exists:\n'
                 f"{HOST}/{repo}/pull/{pr['number']}")  # fmt: skip
    number = 200 + len(state["prs"])
    login, bot = actor(state)
    state["prs"].append(
        {
            "number": number,
            "head": head,
            "title": option(args, "--title", ""),
            "body": body,
            "author": login,
            "author_is_bot": bot,
            "isDraft": "--draft" in args,
            "state": "OPEN",
            "reviewDecision": "",
            "headRefOid": oid,
            "reviews": [],
        }
    )
    print(f"{HOST}/{repo}/pull/{number}")


REST_COMMANDS = ("label", "run")  # gh's other commands (issue, pr) speak GraphQL


def charge(state: dict[str, Any], args: list[str], refused: Refused | None) -> None:
    """Count the call as GitHub does, in `state["quota"]`: `rest` and `graphql` for the
    calls that cost quota (a 404 too), `free` for a 304 (a conditional request that
    found nothing new) and `GET /rate_limit`. A call that never reached GitHub (gh's
    own commands, no login, a command this fake does not know) counts nowhere."""
    if args[0] in ("--version", "auth") or (refused is not None and refused.code == 4):
        return
    if refused is not None and refused.message.startswith("fake gh: unsupported"):
        return
    request = api_request(args)
    limits = request is not None and request[0].partition("?")[0] == "rate_limit"
    if limits or (refused is not None and refused.message == "gh: HTTP 304"):
        kind = "free"
    elif args[:2] == ["api", "graphql"] or (args[0] != "api" and args[0] not in REST_COMMANDS):
        kind = "graphql"
    else:
        kind = "rest"
    quota = state.setdefault("quota", {"rest": 0, "graphql": 0, "free": 0})
    quota[kind] += 1


SHARED = ("login", "token", "calls", "refused", "quota", "permissions", "auth_ok", "repos")


def named_repo(args: list[str]) -> str | None:
    """The repository a call names: `--repo owner/name`, or an API path under it."""
    request = api_request(args)
    path = request[0] if request is not None else (args[3] if args[:2] == ["api", "--method"]
                                                   and len(args) > 3 else "")  # fmt: skip
    match = re.match(r"repos/([^/]+/[^/]+)/", path)
    return match[1] if match else option(args, "--repo")


def handle_in(state: dict[str, Any], args: list[str], stdin: str) -> Any:
    """`handle`, on the state of the repository the call names when it is one of
    `repos`; what it changes there is kept there."""
    target = named_repo(args)
    if target is None or target == state["repo"] or target not in state.get("repos", {}):
        return handle(state, args, stdin)
    view = {**{k: state[k] for k in SHARED if k in state}, **state["repos"][target]}
    view["repo"] = target
    try:
        return handle(view, args, stdin)
    finally:
        for key, value in view.items():
            if key in SHARED:
                state[key] = value
            elif key != "repo":
                state["repos"][target][key] = value


def main() -> None:
    path = os.environ["FAKE_GH_STATE"]
    args = sys.argv[1:] or ["(none)"]
    reads_stdin = "-" in args or args[:2] == ["auth", "git-credential"]
    stdin = sys.stdin.read() if reads_stdin else ""
    refused: Refused | None = None
    with open(path, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # several processes may call gh at once
        state = json.load(file)
        PRIMARY.update(state)
        state.setdefault("calls", []).append(args)
        try:
            result = handle_in(state, args, stdin)
        except Refused as exc:  # a refused call is recorded too
            refused, result = exc, exc.body
            entry = {"args": args, "code": exc.code, "stderr": exc.message}
            state.setdefault("refused", []).append(entry)
        finally:
            charge(state, args, refused)
            file.seek(0)
            file.truncate()
            json.dump(state, file, indent=1)
    if isinstance(result, Raw):
        print(result)
    elif result is not None:
        print(json.dumps(result))
    if refused is not None:
        if refused.message:
            print(refused.message, file=sys.stderr)
        raise SystemExit(refused.code)


if __name__ == "__main__":
    main()
