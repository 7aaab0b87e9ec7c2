// Command kube is one binary for every Kubernetes host process of the test cluster: the control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), the node (kubelet, kube-proxy), the
// hostPath volume provisioner, and push-image, which makes the cluster's own images. Linking them together costs one compile of the shared packages and one link,
// instead of six (k3s ships the same way).
//
// The component is chosen by the name the binary was started under (a hard link such as kube-apiserver)
// or, when started as itself, by its first argument:
//
//	kube kube-apiserver --etcd-servers=...
//	kube-apiserver --etcd-servers=...
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // CronJob time zones, as the upstream kube-apiserver and kube-controller-manager have

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"medallion-dev/cluster/imagepush"
	"medallion-dev/cluster/provisioner"
)

// cobraComponents build each Kubernetes component's own command, so flags, config files and help are
// exactly the upstream binaries'.
var cobraComponents = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler": func() *cobra.Command {
		return scheduler.NewSchedulerCommand()
	},
	"kubelet": func() *cobra.Command {
		return kubelet.NewKubeletCommand(context.Background())
	},
	"kube-proxy":             proxy.NewProxyCommand,
	"local-path-provisioner": provisioner.NewCommand,
	"push-image":             imagepush.NewCommand,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if !known(name) {
		if len(args) == 0 || !known(args[0]) {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	if name == "etcd" {
		// etcdmain reads its arguments like os.Args: the program name first.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	command := cobraComponents[name]()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func known(name string) bool {
	_, ok := cobraComponents[name]
	return ok || name == "etcd"
}

func usage() {
	names := []string{"etcd"}
	for name := range cobraComponents {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [flags]  (or run it as a link named COMPONENT)\ncomponents: %s\n",
		strings.Join(names, ", "))
}
