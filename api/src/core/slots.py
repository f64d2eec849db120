"""``Slots``: a count of things held at once under a limit (sockets, connections), event-loop use only."""


class Slots:
    """At most ``limit`` held at once: ``take`` one (False when all are held), ``give_back`` it after."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1
