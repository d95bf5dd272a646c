// The reference ztunnel is being built issue by issue; this entry point only reports what exists so far.
Console.Error.WriteLine("hbone-ztunnel: not runnable yet: configuration, state and policy are in place; the proxy comes next (issue 4).");
return 1;
