namespace Hbone.Ztunnel.Zds;

/// <summary>A pod as ZDS knows it: its uid, identity fields, and its network namespace path on the node.</summary>
public sealed record ZdsWorkload(string Uid, string Name, string Namespace, string ServiceAccount, string NetnsPath);
