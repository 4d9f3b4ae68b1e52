using Csshim.Tests.Rig;
using Newtonsoft.Json.Linq;

namespace Csshim.E2E.Rig;

/// <summary>csshim config files and wrapper scripts for clients that cannot pass runtime arguments
/// (containerd's runc shim; podman's cleanup delete, which drops --runtime-flag).</summary>
public static class ShimConfig
{
    public static string Write(string path, string runtime, string stateDir, bool allowAnnotation = true)
    {
        var cfg = new JObject
        {
            ["runtime"] = runtime,
            ["stateDir"] = stateDir,
            ["allowRootfsTarAnnotation"] = allowAnnotation,
        };
        foreach (var (key, value) in RestoreUnderTest.ConfigKeys(stateDir)) cfg[key] = value;
        // Debian's runsc 2022 cannot start with networking on this kernel.
        if (runtime.EndsWith("runsc", StringComparison.Ordinal)) cfg["runtimeArgs"] = new JArray("--network=none");
        File.WriteAllText(path, cfg.ToString());
        return path;
    }

    /// <summary>A runtime binary that is csshim with CSSHIM_CONFIG set, for callers that pass no environment.</summary>
    public static string Wrapper(string path, string csshim, string configFile)
    {
        File.WriteAllText(path, $"#!/bin/sh\nCSSHIM_CONFIG={Daemon.Quote(configFile)} exec {Daemon.Quote(csshim)} \"$@\"\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }
}
