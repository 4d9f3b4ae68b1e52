namespace Csshim.Cri.Rig;

/// <summary>
/// The pod network: every pod gets its own network namespace, and containerd's CRI plugin refuses to run a pod
/// without a CNI network whose result names an interface. The suite's plugin configures nothing and reports an eth0
/// inside the pod's namespace with a loopback-range address (no traffic leaves the namespace, no address outside
/// 127.0.0.0/8); containerd adds its own loopback network, run by the `loopback` plugin of containernetworking-plugins.
/// </summary>
public static class CniStub
{
    const string PluginName = "cri-suite-noop";
    const string LoopbackPlugin = "/usr/lib/cni/loopback";

    public static (string BinDir, string ConfDir) Write(string dir)
    {
        var bin = Directory.CreateDirectory(Path.Combine(dir, "cni", "bin")).FullName;
        var conf = Directory.CreateDirectory(Path.Combine(dir, "cni", "conf")).FullName;
        if (!File.Exists(LoopbackPlugin))
            Assert.Ignore($"{LoopbackPlugin} missing: apt-get install containernetworking-plugins (test/tools/install-test-deps.sh)");
        File.CreateSymbolicLink(Path.Combine(bin, "loopback"), LoopbackPlugin);
        var plugin = Path.Combine(bin, PluginName);
        File.WriteAllText(plugin, """
            #!/bin/sh
            # CNI: ADD answers with an interface in the pod's namespace; DEL and CHECK have nothing to undo or check.
            case "$CNI_COMMAND" in
            ADD) printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"version":"4","interface":0,"address":"127.0.0.2/8"}]}' "$CNI_NETNS" ;;
            VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
            esac
            """.Replace("\r", "") + "\n");
        File.SetUnixFileMode(plugin, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(conf, "10-cri-suite.conf"),
            $$"""{"cniVersion":"0.4.0","name":"cri-suite","type":"{{PluginName}}"}""");
        return (bin, conf);
    }
}
