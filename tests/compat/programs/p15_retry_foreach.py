"""retry.ForEach and ParameterizedForEach supply the next value after each failure."""

from taskflow import engines, retry, task
from taskflow.patterns import linear_flow


class Connect(task.Task):
    def execute(self, port):
        print("connecting to", port)
        if port != 8080:
            raise ConnectionError(f"port {port} closed")
        return port


flow = linear_flow.Flow("ports", retry=retry.ForEach([80, 443, 8080], name="each", provides="port"))
flow.add(Connect(name="connect", provides="open"))
print(engines.run(flow))

flow = linear_flow.Flow(
    "params", retry=retry.ParameterizedForEach(name="pfe", provides="port", rebind=["ports"])
)
flow.add(Connect(name="connect", provides="open"))
print(engines.run(flow, store={"ports": [1, 8080, 9]}))

flow = linear_flow.Flow("none", retry=retry.ForEach([1, 2], name="each", provides="port"))
flow.add(Connect(name="connect"))
try:
    engines.run(flow)
except ConnectionError as exc:
    print("exhausted:", exc)
