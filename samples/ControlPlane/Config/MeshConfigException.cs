namespace DevControlPlane.Config;

/// <summary>The mesh YAML is not valid; the message is one line: file:line:column: path: problem.</summary>
public sealed class MeshConfigException(string message, Exception? inner = null) : Exception(message, inner);
