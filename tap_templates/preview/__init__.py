"""What a change to the templates does, read the way a reviewer needs it: per environment and region, which
resources are added, removed or changed (and which properties), which changes *replace* a resource, and which
IAM or network changes widen access.

StackSets have no change sets, so the preview is computed here from the two templates themselves:

- ``schemas``: whether a change replaces a resource, from CloudFormation's resource schemas (the ones cfn-lint
  ships: ``createOnlyProperties``);
- ``changes``: the resource-by-resource comparison of two templates (with their parameter values);
- ``access``: IAM statements and network rules that allow more than before;
- ``gate``: the data resources (buckets, table, key, secret, queues) a change would replace or delete;
- ``sources``: where the two sides come from (a render, a directory, a git ref, the deployed StackSets);
- ``report``: plain text for a terminal, Markdown for a pull-request comment, JSON for tools.
"""
