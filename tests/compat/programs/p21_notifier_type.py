"""taskflow.types.notifier.Notifier on its own: register, ANY, notify, deregister."""

from taskflow.types import notifier

events = notifier.Notifier()


def seen(event_type, details):
    print("seen", event_type, sorted(details.items()))


def everything(event_type, details):
    print("any", event_type)


events.register("created", seen)
events.register(notifier.Notifier.ANY, everything)
print(events.is_registered("created", seen), len(events))
events.notify("created", {"id": 1})
events.notify("deleted", {"id": 2})
events.deregister("created", seen)
print(events.is_registered("created", seen), len(events))
events.notify("created", {"id": 3})
print(sorted(events.listeners_iter(), key=str) != [])
