#!/usr/bin/env python3
"""Writes tests/models/connect4_forced_wins.txt: connect-four positions where
the player to move has a forced win in 1 or 2 of its own moves.

Positions come from seeded random games (plain Python, no dependency). For
each one the script computes, by exhaustive search three plies deep:
  the moves that win at once (a "win in 1");
  the moves after which every reply of the opponent leaves a win at once (a
  "win in 2");
and keeps the positions with a win in 1 or 2. The answer set holds every move
that forces a win within THREE of the mover's moves: rewards are not
discounted, so a search rightly sees a slower forced win as just as good as
the fastest one, and a move that wins in 3 where a win in 2 exists is still
a winning move. A position is kept when the answer set holds at most two
moves (so that guessing rarely succeeds) and at least four moves are legal.

Usage: python3 tests/models/gen_forced_wins.py [N1 N2 SEED] > FILE
(the file in the repository was written with: 150 150 2024).
"""
import random
import sys

R, C = 6, 7


def won(b, p):
    for r in range(R):
        for c in range(C):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if all(0 <= r + dr * k < R and 0 <= c + dc * k < C and b[r + dr * k][c + dc * k] == p
                       for k in range(4)):
                    return True
    return False


class Pos:
    def __init__(self):
        self.b = [[0] * C for _ in range(R)]
        self.h = [0] * C
        self.ply = 0
        self.over = False

    def copy(self):
        q = Pos()
        q.b = [row[:] for row in self.b]
        q.h = self.h[:]
        q.ply = self.ply
        q.over = self.over
        return q

    def legal(self):
        return [] if self.over else [c for c in range(C) if self.h[c] < R]

    def play(self, c):
        """Plays column c; returns 1 when the mover wins, 0 when drawn or going on."""
        p = 1 + (self.ply & 1)
        self.b[self.h[c]][c] = p
        self.h[c] += 1
        self.ply += 1
        if won(self.b, p):
            self.over = True
            return 1
        if self.ply == R * C:
            self.over = True
        return 0


def wins_now(pos):
    out = []
    for c in pos.legal():
        q = pos.copy()
        if q.play(c):
            out.append(c)
    return out


def move_wins_within(pos, c, k):
    """Whether column c forces a win within k of the mover's moves."""
    q = pos.copy()
    if q.play(c):
        return True
    if q.over or k == 1:
        return False
    for r in q.legal():
        t = q.copy()
        if t.play(r) or t.over:
            return False
        if not any(move_wins_within(t, m, k - 1) for m in t.legal()):
            return False
    return True


def wins_within(pos, k):
    return [c for c in pos.legal() if move_wins_within(pos, c, k)]


def main():
    n1 = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    n2 = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 2024)
    got = {1: [], 2: []}
    seen = set()
    while len(got[1]) < n1 or len(got[2]) < n2:
        pos = Pos()
        moves = ""
        stop = rng.randrange(6, 30)
        while not pos.over and pos.ply < stop:
            c = rng.choice(pos.legal())
            pos.play(c)
            moves += str(c + 1)
        if pos.over or moves in seen or len(pos.legal()) < 4:
            continue
        # the opponent must not already have won (handled by pos.over)
        w1 = wins_now(pos)
        depth = 1 if w1 else 2
        if len(got[depth]) >= (n1 if depth == 1 else n2):
            continue
        if not w1 and not wins_within(pos, 2):
            continue
        ans = wins_within(pos, 3)
        if len(ans) <= 2:
            seen.add(moves)
            got[depth].append((moves, ans))
    print("# connect-four positions with a forced win in 1 or 2 (tests/models/gen_forced_wins.py).")
    print("# Each line: <moves from the start, columns 1-7> <winning columns, comma-separated> <win in N>.")
    print("# The player to move wins by force with any listed column; no other column forces a win within 3 of its moves.")
    for depth in (1, 2):
        for moves, ans in got[depth]:
            print(moves, ",".join(str(c + 1) for c in ans), depth)


if __name__ == "__main__":
    main()
