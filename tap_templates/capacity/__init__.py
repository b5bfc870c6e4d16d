"""The capacity and cost model behind ``tap estimate``: what an environment costs a month at a given record rate,
and which limit it reaches first.

- ``template_facts``: what the rendered templates deploy (the table and its indexes, alarms, endpoints, ...);
- ``prices`` and ``prices.json``: every price, with its region, date and AWS pricing page;
- ``measure`` (with ``workload``, ``stub``, ``table_model``, ``timeline``): the model run, the real handler on a
  generated skewed mix with AWS answered locally, giving the write units per record and the hottest keys;
- ``costs``: the monthly bill per component; ``limits``: where the pipeline breaks first as the rate grows;
- ``report``: the estimate as text or JSON.

Nothing here calls AWS. The model run imports ``handlers`` (it runs the handler's own item code), in a child
process so that its environment and output stay out of the caller's.
"""
