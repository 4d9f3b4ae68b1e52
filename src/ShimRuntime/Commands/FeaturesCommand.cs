using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.ShimRuntime.Cli;
using Csshim.ShimRuntime.Runtime;
using Csshim.ShimRuntime.Settings;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`features`: Docker 26 asks at daemon start. The runtime's answer when it has one (runc, crun),
/// otherwise a runc-style answer for what csshim and the runtime support; either way naming csshim's annotation.</summary>
internal static class FeaturesCommand
{
    public static int Run(CommandCall call)
    {
        var features = FromRuntime(call.Invocation) ?? Builtin();
        if (features["annotations"] is not JsonObject annotations)
            features["annotations"] = annotations = new JsonObject();
        annotations["dev.csshim.version"] = VersionCommand.Version;
        annotations["dev.csshim.rootfs-upper.annotation"] = OciSpec.RootfsTarAnnotation.BaseKey;
        Console.Out.WriteLine(features.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static JsonObject? FromRuntime(Invocation invocation)
    {
        var (status, stdout, _) = RuntimeQueries.Ask(invocation, "features");
        if (status != 0) return null;
        try
        {
            return JsonNode.Parse(stdout) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static JsonObject Builtin() => new()
    {
        ["ociVersionMin"] = "1.0.0",
        ["ociVersionMax"] = "1.0.2-dev",
        ["hooks"] = new JsonArray("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"),
        ["mountOptions"] = new JsonArray("bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "private", "rprivate", "shared", "rshared", "slave", "rslave"),
        ["linux"] = new JsonObject
        {
            ["namespaces"] = new JsonArray("cgroup", "ipc", "mount", "network", "pid", "user", "uts"),
            ["cgroup"] = new JsonObject { ["v1"] = true, ["v2"] = true },
        },
    };
}
