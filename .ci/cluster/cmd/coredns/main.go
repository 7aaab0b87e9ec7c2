// Command coredns is the cluster's DNS server: CoreDNS with only the plugins the test cluster's Corefile
// uses, so it builds in a fraction of the time of the full CoreDNS (no cloud DNS back ends).
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins the Corefile of .ci/cluster.sh names. CoreDNS runs them in the fixed order of its
	// directive list (core/dnsserver), not in this order.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
