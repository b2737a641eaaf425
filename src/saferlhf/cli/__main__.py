"""`python -m saferlhf.cli ...` = the `saferlhf` command."""

from saferlhf.cli import main

main()
