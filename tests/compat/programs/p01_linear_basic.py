"""A linear flow of Task subclasses; inputs inferred from execute, results by name."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Fetch(task.Task):
    default_provides = "image"

    def execute(self, image_id):
        print("fetching", image_id)
        return f"img-{image_id}"


class Boot(task.Task):
    def execute(self, image, flavor="small"):
        print("booting", image, flavor)
        return "vm-1"


flow = linear_flow.Flow("boot").add(Fetch(), Boot(provides="vm"))
result = engines.run(flow, store={"image_id": 7})
print(sorted(result.items()))
print([atom.name for atom in flow])
print(len(flow), flow.name)
