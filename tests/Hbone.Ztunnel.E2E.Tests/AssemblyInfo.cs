// The tests share fixed addresses inside their namespaces and the node ports 15000-15021: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
