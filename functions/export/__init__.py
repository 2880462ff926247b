"""The export function.

Importing the package pauses the cyclic garbage collector until the first invocation ends
(``rpm_billing.coldstart``): Lambda imports it before the handler module and everything it loads.
"""

from rpm_billing import coldstart

coldstart.pause()
