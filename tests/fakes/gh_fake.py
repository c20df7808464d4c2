"""A fake `gh` for the tests: GitHub's JSON shapes, backed by a JSON state file.

It answers exactly the commands middle (and the stand-in agent) issue, with payloads shaped
like `gh ... --json` output and GitHub's REST API, and refuses anything else, so a new
call cannot pass untested. State: the file named by FAKE_GH_STATE; every call is appended
to its "calls" list.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

HOST = "https://github.com"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(code)


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
    return args[args.index(name) + 1] if name in args else default


def user(login: str, bot: bool = False) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**7, "type": "Bot" if bot else "User"}


def rest_issue(state: dict[str, Any], number: str) -> dict[str, Any]:
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
        "sub_issues_summary": {"total": len(issue.get("sub_issues", [])), "completed": 0},
    }


def api(state: dict[str, Any], path: str) -> Any:
    repo = state["repo"]
    if path == "user":
        return user(state["login"])
    if path == "rate_limit":
        core = {"limit": 5000, "used": 13, "remaining": 4987, "reset": 1_900_000_000}
        return {"resources": {"core": core, "graphql": dict(core)}, "rate": core}
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
            {
                "id": c["id"],
                "node_id": f"IC_{c['id']}",
                "body": c["body"],
                "user": user(c["login"], c.get("bot", False)),
                "created_at": c["created_at"],
                "updated_at": c["created_at"],
                "html_url": f"{HOST}/{repo}/issues/{number}#issuecomment-{c['id']}",
                "author_association": c.get("association", "MEMBER"),
            }
            for c in state.setdefault("comments", {}).get(number, [])
        ]
    match = re.fullmatch(rf"repos/{re.escape(repo)}/collaborators/([^/]+)/permission", path)
    if match:  # GitHub answers 404 for someone who is not a collaborator at all
        permission = state.get("permissions", {}).get(match[1])
        if permission is None:
            fail("gh: Not Found (HTTP 404)")
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        return {"permission": legacy, "role_name": permission, "user": user(match[1])}
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


def with_headers(result: Any, path: str, page: Any) -> Raw:
    """`gh api -i`: the status line and headers, with GitHub's Link header on a list that
    has more pages (`rel="next"` and `rel="last"`), then the body."""
    headers = ["HTTP/2.0 200 OK", "Content-Type: application/json; charset=utf-8"]
    if isinstance(result, list):
        base, _, query = path.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        size = min(int(params.get("per_page", 30)), 100)
        number, last = int(params.get("page", 1)), max(1, -(-len(result) // size))
        url = f"https://api.github.com/{base}?per_page={size}&page="
        links = [f'<{url}{number + 1}>; rel="next"'] if number < last else []
        links += [f'<{url}{last}>; rel="last"'] if number < last else []
        if links:
            headers.append("Link: " + ", ".join(links))
    body = page if isinstance(page, Raw) else json.dumps(page)
    return Raw("\n".join(headers) + "\n\n" + body)


def handle(state: dict[str, Any], args: list[str], stdin: str) -> Any:
    repo = state["repo"]
    if args == ["--version"]:
        print("gh version 2.63.0 (2024-11-27)\nhttps://github.com/cli/cli/releases/tag/v2.63.0")
        return None
    if args[:2] == ["auth", "status"]:
        if not state.get("auth_ok", True):
            fail("You are not logged into any GitHub hosts. To log in, run: gh auth login")
        print(
            f"github.com\n  ✓ Logged in to github.com account {state['login']} (keyring)",
            file=sys.stderr,
        )
        return None
    if args[0] == "api" and len(args) in (2, 3, 4) and set(args[1:-1]) <= {"--paginate", "-i"}:
        result = api(state, args[-1].partition("?")[0])
        page = paged(result, args[-1], "--paginate" in args)
        return with_headers(result, args[-1], page) if "-i" in args else page
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
        comment["body"] = json.loads(stdin)["body"]
        comment["updated_at"] = now()
        return {
            "id": comment["id"],
            "body": comment["body"],
            "user": user(comment["login"]),
            "html_url": f"{HOST}/{repo}/issues/{number}#issuecomment-{comment['id']}",
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": "MEMBER",
        }
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
        state["issues"][number]["body"] = stdin
        print(f"{HOST}/{repo}/issues/{number}")
        return None
    if args[:2] == ["issue", "comment"] and option(args, "--body-file") == "-":
        number = args[2]
        comments = state.setdefault("comments", {}).setdefault(number, [])
        comment_id = 100 + sum(len(c) for c in state["comments"].values())
        comments.append(
            {"id": comment_id, "login": state["login"], "body": stdin, "created_at": now()}
        )
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
                }.get(k)
                for k in fields
            }
            for p in prs
        ]
    if args[:2] == ["pr", "create"]:
        head = option(args, "--head")
        number = 200 + len(state["prs"])
        state["prs"].append(
            {
                "number": number,
                "head": head,
                "title": option(args, "--title", ""),
                "isDraft": "--draft" in args,
                "state": "OPEN",
                "reviewDecision": "",
                "headRefOid": "0" * 40,
                "reviews": [],
            }
        )
        print(f"{HOST}/{repo}/pull/{number}")
        return None
    if args[:2] == ["label", "create"] and "--force" in args and option(args, "--repo") == repo:
        state.setdefault("labels", {})[args[2]] = {
            "color": option(args, "--color"),
            "description": option(args, "--description"),
        }
        return None
    fail(f"fake gh: unsupported command: gh {' '.join(args)}")


def main() -> None:
    path = os.environ["FAKE_GH_STATE"]
    args = sys.argv[1:] or ["(none)"]
    stdin = sys.stdin.read() if "-" in args else ""
    with open(path, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # several processes may call gh at once
        state = json.load(file)
        state.setdefault("calls", []).append(args)
        try:
            result = handle(state, args, stdin)
        finally:  # a refused call is recorded too
            file.seek(0)
            file.truncate()
            json.dump(state, file, indent=1)
    if isinstance(result, Raw):
        print(result)
    elif result is not None:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
