"""The adversarial objective of every family: losses, gradient penalties, label tricks,
DiffAugment, ADA, and each family's objective class (the loop owns the schedule; an objective
only computes losses from a batch). It sits below ``ganvas.models`` and never imports it:
networks are duck-typed."""
