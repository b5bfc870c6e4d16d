"""Getting the rendered templates into AWS accounts as CloudFormation StackSets.

- ``aws``: credentials and clients, checked before anything changes;
- ``targets``: the accounts or organizational units instances go to, and the operation preferences;
- ``manifest``: the rendered manifest as the deploy reads it (order, parameters);
- ``packaging`` and ``artifacts``: the handler zip, and the per-region bucket the zip and templates are
  uploaded to, content-addressed;
- ``plan``: what each StackSet holds and what this deploy changes (read-only);
- ``stacksets``: creating and updating StackSets and instances, waiting for operations, the summary;
- ``destroy``: removing an environment and listing what it keeps;
- ``kept``: what an earlier destroy kept, found before a deploy recreates its names, and ``purge``;
- ``roles``: the template of the two roles self-managed StackSets need.

Nothing here knows about the emulator: with an endpoint URL the same calls go to moto.
"""
