"""``python -m chat.cli``: the same as the ``kith`` command."""

from chat.cli import main

main()
