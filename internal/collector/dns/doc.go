// Package dns is the collector of DNS over UDP and TCP port 53 as
// processes see it:
// each query paired with its answer (qname, qtype, rcode, answers,
// latency), queries left unanswered reported after a timeout, with the
// process that asked; kscope_dns_requests_total{qtype,rcode} and
// kscope_dns_request_duration_seconds. Messages are parsed with
// github.com/miekg/dns. Its events are of kind "dns", registered here.
package dns
