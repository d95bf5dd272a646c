namespace Hbone.Ztunnel.Policy;

/// <summary>The local workload a connection is for: the policies that apply are chosen by these fields.</summary>
/// <param name="Namespace">The workload's namespace.</param>
/// <param name="Name">The workload's name.</param>
/// <param name="Labels">Its labels, for policies with a label selector.</param>
/// <param name="SelectedBy">The workload-selector policies (<c>namespace/name</c>) that name this workload, as xDS sends them.</param>
public sealed record DestinationWorkload(string Namespace, string Name, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<string>? SelectedBy = null);
