"""Reading the config: typed value readers (fields), dataclass groups (groups), one registry per kind of name
(registry), the `_target_` policy (targets), the table of tasks (task_names) and the logging filters that
Hydra's job logging names (logs). Nothing here imports a domain package at module level: every package may
use these, and the edge (cnnexp/run.py) reads each group with them."""
