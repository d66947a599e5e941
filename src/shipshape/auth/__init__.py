"""Authentication: member password hashing and the Docker token flow's signed bearer tokens."""
