#!/usr/bin/python3
"""The Jepsen-style checker against hand-made histories: each anomaly it must find, and none in a
clean history (a checker that finds nothing in these proves nothing about the real runs)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jepsen  # noqa: E402

TOTAL = jepsen.ACCOUNTS * jepsen.INITIAL_BALANCE
GOOD_BANK = {"n1": (TOTAL, jepsen.ACCOUNTS)}


def txn(mops, result="ok", node="n1"):
    return {"role": "append", "node": node, "f": "txn", "mops": mops, "type": result,
            "start": 0, "end": 1}


def read_all(lengths_or_lists, node="n2"):
    lists = {k: list(v) if isinstance(v, list) else list(range(1000 + 10 * k, 1000 + 10 * k + v))
             for k, v in enumerate(lengths_or_lists)}
    return {"role": "standby-read", "node": node, "f": "read-all", "lists": lists, "base": 0,
            "bank_total": TOTAL, "bank_count": jepsen.ACCOUNTS, "type": "ok", "start": 0, "end": 1}


def final(**keys):
    lists = {k: [] for k in range(jepsen.KEYS)}
    for name, values in keys.items():
        lists[int(name[1:])] = values
    return lists


def run(ops, final_lists, bank=None):
    h = jepsen.History()
    for o in ops:
        h.add(o)
    return jepsen.check(h, final_lists, bank or GOOD_BANK)


class CheckerTest(unittest.TestCase):
    def test_clean_history_has_no_anomalies(self):
        ops = [txn([["append", 0, 1], ["r", 1, []]]),
               txn([["append", 1, 2], ["r", 0, [1]]]),
               txn([["r", 0, [1]], ["r", 1, [2]]]),
               read_all([[1], [2]] + [[]] * (jepsen.KEYS - 2))]
        anomalies, lost = run(ops, final(k0=[1], k1=[2]))
        self.assertEqual(anomalies, {})
        self.assertEqual(lost, 0)

    def test_lost_write(self):
        anomalies, lost = run([txn([["append", 0, 5]])], final(k0=[]))
        self.assertEqual(lost, 1)
        self.assertIn("lost-write", anomalies)

    def test_aborted_read(self):
        ops = [txn([["append", 0, 7]], result="fail"), txn([["r", 0, [7]]])]
        anomalies, _ = run(ops, final(k0=[7]))
        self.assertIn("aborted-read (G1a)", anomalies)

    def test_indeterminate_writes_may_be_read(self):
        ops = [txn([["append", 0, 7]], result="info"), txn([["r", 0, [7]]])]
        anomalies, _ = run(ops, final(k0=[7]))
        self.assertEqual(anomalies, {})

    def test_divergent_order(self):
        ops = [txn([["append", 0, 1]]), txn([["append", 0, 2]]), txn([["r", 0, [2, 1]]])]
        anomalies, _ = run(ops, final(k0=[1, 2]))
        self.assertEqual(len(anomalies["read-not-prefix-of-final"]), 1)

    def test_only_the_divergent_reads_are_counted(self):
        # One read on a dead branch, longer than any other: the correct reads after it disagree
        # with it, but only it disagrees with the final state.
        ops = [txn([["append", 0, 1]]), txn([["append", 0, 2]]),
               txn([["r", 0, [1, 9, 8]]], node="n3"),
               txn([["r", 0, [1, 2]]]), read_all([[1, 2]] + [[]] * (jepsen.KEYS - 1)),
               read_all([[1, 9]] + [[]] * (jepsen.KEYS - 1), node="n3")]
        anomalies, _ = run(ops, final(k0=[1, 2]))
        wrong = anomalies["read-not-prefix-of-final"]
        self.assertEqual([(w["node"], w["length"]) for w in wrong], [("n3", 3), ("n3", 2)])

    def test_write_read_cycle_is_g1c(self):
        ops = [txn([["append", 0, 1], ["r", 1, [2]]]), txn([["append", 1, 2], ["r", 0, [1]]])]
        anomalies, _ = run(ops, final(k0=[1], k1=[2]))
        self.assertIn("G1c (ww/wr cycle)", anomalies)

    def test_read_skew_is_g_single(self):
        # T2 saw T1's append to k2 but not its append to k0.
        ops = [txn([["append", 0, 1], ["append", 2, 3]]), txn([["r", 0, []], ["r", 2, [3]]])]
        anomalies, _ = run(ops, final(k0=[1], k2=[3]))
        self.assertIn("G-single (one rw edge)", anomalies)

    def test_long_fork_between_replicas(self):
        # Each replica saw one of two independent appends and not the other.
        rest = [[]] * (jepsen.KEYS - 2)
        ops = [txn([["append", 0, 1]]), txn([["append", 1, 2]]),
               read_all([[1], []] + rest, node="n2"), read_all([[], [2]] + rest, node="n3")]
        anomalies, _ = run(ops, final(k0=[1], k1=[2]))
        self.assertIn("long-fork", anomalies)

    def test_bank_total_changed(self):
        bad = {"role": "bank", "node": "n1", "f": "read", "type": "ok", "start": 0, "end": 1,
               "balances": [(i, jepsen.INITIAL_BALANCE) for i in range(1, jepsen.ACCOUNTS)]
               + [(jepsen.ACCOUNTS, jepsen.INITIAL_BALANCE - 3)]}
        anomalies, _ = run([bad], final())
        self.assertIn("bank-wrong-total", anomalies)
        anomalies, _ = run([], final(), {"n2": (TOTAL + 1, jepsen.ACCOUNTS)})
        self.assertIn("bank-wrong-total", anomalies)


if __name__ == "__main__":
    unittest.main()
