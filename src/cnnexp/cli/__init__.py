"""The command line's plumbing: its help page (help), how a process ends (exits) and the config folders it
searches (configdirs). The door itself is cnnexp/app.py; the Python API's is cnnexp/api.py."""
