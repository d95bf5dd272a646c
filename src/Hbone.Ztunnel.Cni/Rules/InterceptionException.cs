namespace Hbone.Ztunnel.Cni.Rules;

/// <summary>Setting up or removing interception failed; the message is one line naming the command and its error.</summary>
internal sealed class InterceptionException(string message) : Exception(message);
