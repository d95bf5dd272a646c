namespace Hbone.Ztunnel.Policy;

/// <summary>The local workload a connection is for: the policies that apply are chosen by these fields.</summary>
public sealed record DestinationWorkload(string Namespace, string Name, IReadOnlyDictionary<string, string> Labels);
