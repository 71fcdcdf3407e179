"""Revenue by order priority on TPC-H tables: lineitem joined with orders, then grouped by o_orderpriority.

    python datasets/tpch.py --scale 1 -o data/tpch
    paxflow run jobs/revenue_by_priority.py --input lineitem=data/tpch/lineitem --input orders=data/tpch/orders

Step 1 joins lineitem with orders on l_orderkey = o_orderkey (reading only the columns it needs); step 2 counts
rows and sums l_extendedprice per o_orderpriority. Output: o_orderpriority, order_lines, revenue.
"""

from framework import Count, Job, Join, Parquet, Step, Sum


class RevenueByPriority(Job):
    """Line count and total extended price per order priority."""

    inputs = {
        "lineitem": Parquet(columns=["l_orderkey", "l_extendedprice"]),
        "orders": Parquet(columns=["o_orderkey", "o_orderpriority"]),
    }

    def steps(self):
        return [
            Step(join=Join(["l_orderkey"], ["o_orderkey"], left="lineitem", right="orders"), name="join"),
            Step(key="o_orderpriority", aggregate={"order_lines": Count(), "revenue": Sum("l_extendedprice")},
                 name="group by priority"),
        ]


if __name__ == "__main__":
    RevenueByPriority.main()
