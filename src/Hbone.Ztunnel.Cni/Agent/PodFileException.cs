namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>A pod file that cannot be used: unreadable, not JSON, or missing a field.</summary>
internal sealed class PodFileException(string message, Exception? innerException = null) : IOException(message, innerException);
