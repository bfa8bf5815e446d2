"""Helpers shared by the collectors: opening repositories, resolving commits, dedup keys."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import git

from evidence.collectors.errors import NotAGitRepository, UnknownCommit


def default_actor() -> str:
    for var in ("SCIMTRAIL_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR"):
        if os.environ.get(var):
            return os.environ[var]
    return "collector"


def open_repo(path: str | Path) -> git.Repo:
    """The git repository containing ``path`` (its working tree or a parent)."""
    shown = str(path)
    if not Path(path).exists():
        raise NotAGitRepository(shown, "no such directory")
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise NotAGitRepository(shown) from exc
    except git.GitError as exc:
        raise NotAGitRepository(shown, f"git cannot read it ({type(exc).__name__})") from exc


def resolve_commit(repo: git.Repo, rev: str) -> git.Commit:
    """The commit ``rev`` names (sha, abbreviated sha, branch, tag)."""
    where = str(repo.working_tree_dir or repo.git_dir)
    if not rev or rev.startswith("-"):
        raise UnknownCommit(rev, where)
    try:
        commit = repo.commit(rev)
        _ = commit.tree  # forces the object to be read
        return commit
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as exc:
        raise UnknownCommit(rev, where) from exc


def repo_label(repo: git.Repo) -> str:
    """How the repository is named in evidence: its origin URL without credentials, or path."""
    try:
        url = repo.remotes.origin.url if "origin" in [r.name for r in repo.remotes] else None
    except (git.GitError, ValueError):
        url = None
    if url:
        return strip_credentials(url)
    return str(Path(repo.working_tree_dir or repo.git_dir).resolve())


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` → ``https://host/x``; scp-style URLs unchanged."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
