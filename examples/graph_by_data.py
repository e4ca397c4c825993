"""A graph whose order comes only from data: nobody links anything.

The tasks are added in reverse order; the engine still runs each one after the
tasks that provide its inputs.

Run: python examples/graph_by_data.py
"""

from __future__ import annotations

import steadyflow as sf


@sf.task(provides="invoice")
def send_invoice(customer: str, total: float) -> str:
    print(f"invoicing {customer}: {total:.2f}")
    return "inv-9"


@sf.task(provides="total")
def compute_total(subtotal: float, tax: float) -> float:
    print("adding tax to the subtotal")
    return subtotal + tax


@sf.task(provides="tax")
def compute_tax(subtotal: float, rate: float) -> float:
    print("computing tax")
    return round(subtotal * rate, 2)


@sf.task(provides="subtotal")
def sum_lines(lines: list[float]) -> float:
    print("summing the order lines")
    return sum(lines)


def main() -> None:
    graph = sf.Graph("billing", send_invoice, compute_total, compute_tax, sum_lines)
    engine = sf.load(graph, store={"customer": "acme", "lines": [10.0, 32.5], "rate": 0.2})
    engine.run()
    print(f"invoice {engine.storage.fetch('invoice')} for {engine.storage.fetch('total'):.2f}")


if __name__ == "__main__":
    main()
