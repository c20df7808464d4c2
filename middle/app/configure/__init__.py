"""Setting middle up and keeping it current: `init` and `uninit` of a repository, one
setting (`config`), and middle's own `version` and `update`."""
